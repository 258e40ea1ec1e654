// Streams a Messages API answer as LLM stream parts, with an idle timeout and checks for truncation.
import Anthropic from '@anthropic-ai/sdk';
import { FishError, FishErrorCode, describeError, errorMessage, type LLMGenerateRequest, type LLMStreamPart } from '@fish-sre/core';
import { RETRYABLE_ERROR_TYPES, SCOPE } from './claude-errors.js';
import type { Prepared, StructuredTool } from './claude-request.js';
import { mapFinishReason, usageOf, type PriceTable, type RawUsage } from './claude-response.js';
import { withRetries, type RetrySettings } from './claude-retry.js';

export interface StreamSettings {
  client: Anthropic;
  retry: RetrySettings;
  timeoutMs: number;
  priceTable: PriceTable;
  prepare: (request: LLMGenerateRequest, modelId: string) => Prepared;
}

export async function* streamMessage(settings: StreamSettings, request: LLMGenerateRequest): AsyncGenerator<LLMStreamPart> {
  const { client, timeoutMs, priceTable, prepare } = settings;
  const { redact, sanitizedCause, abortError } = settings.retry.errors;
  let structured: StructuredTool;
  // `timeoutMs` bounds the wait for the headers (SDK) and then every silence between two events.
  const idle = new AbortController();
  const streamSignal = request.signal ? AbortSignal.any([request.signal, idle.signal]) : idle.signal;
  const { value: events, model: usedModel } = await withRetries(settings.retry, request, (modelId) => {
    const prepared = prepare(request, modelId);
    structured = prepared.structured;
    return client.messages.create({ ...prepared.params, stream: true }, { signal: streamSignal });
  });
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const armIdleTimer = (): void => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => idle.abort(), timeoutMs);
  };
  armIdleTimer();
  let answeredModel = usedModel;
  let rawUsage: RawUsage = {};
  let stopReason: string | null = null;
  let stopped = false;
  const toolBlocks = new Map<number, { id: string; name: string; json: string }>();
  const streamError = (cause: unknown, what: string, retryable: boolean, details: Record<string, unknown> = {}): FishError =>
    new FishError({
      code: FishErrorCode.LLM_STREAM_ERROR,
      message: redact(errorMessage(SCOPE, `stream from ${answeredModel} failed: ${what}`)),
      cause: cause === undefined ? undefined : sanitizedCause(cause),
      isRetryable: retryable,
      details: { model: answeredModel, ...details },
    });
  try {
    for await (const event of events) {
      armIdleTimer();
      switch (event.type) {
        case 'message_start':
          answeredModel = event.message.model || answeredModel;
          rawUsage = { ...event.message.usage };
          break;
        case 'content_block_start':
          if (event.content_block.type === 'tool_use') {
            toolBlocks.set(event.index, { id: event.content_block.id, name: event.content_block.name, json: '' });
          }
          break;
        case 'content_block_delta':
          if (event.delta.type === 'text_delta') {
            if (event.delta.text.length > 0) yield { type: 'text-delta', text: event.delta.text };
          } else if (event.delta.type === 'input_json_delta') {
            const block = toolBlocks.get(event.index);
            if (block) block.json += event.delta.partial_json;
          }
          break;
        case 'content_block_stop': {
          const block = toolBlocks.get(event.index);
          if (block) {
            toolBlocks.delete(event.index);
            let input: unknown;
            try {
              input = block.json.trim().length === 0 ? {} : JSON.parse(block.json);
            } catch (error) {
              throw new FishError({
                code: FishErrorCode.LLM_OUTPUT_INVALID,
                message: errorMessage(SCOPE, `stream from ${answeredModel}: the input of tool ${block.name} is not valid JSON`),
                cause: error,
                isRetryable: true,
                details: { model: answeredModel, toolName: block.name },
              });
            }
            if (structured && block.name === structured.tool && structured.wrapped) input = (input as { value?: unknown } | null)?.value;
            yield { type: 'tool-call', toolCallId: block.id, toolName: block.name, input };
          }
          break;
        }
        case 'message_delta': {
          stopReason = event.delta.stop_reason ?? stopReason;
          // Cumulative totals: overwrite, never add.
          const usage = event.usage;
          rawUsage = {
            ...rawUsage,
            output_tokens: usage.output_tokens,
            ...(usage.input_tokens != null ? { input_tokens: usage.input_tokens } : {}),
            ...(usage.cache_creation_input_tokens != null ? { cache_creation_input_tokens: usage.cache_creation_input_tokens } : {}),
            ...(usage.cache_read_input_tokens != null ? { cache_read_input_tokens: usage.cache_read_input_tokens } : {}),
          };
          break;
        }
        case 'message_stop':
          stopped = true;
          break;
      }
    }
  } catch (error) {
    if (FishError.isInstance(error)) throw error;
    if (request.signal?.aborted) throw abortError(request.signal, answeredModel);
    if (idle.signal.aborted) throw streamError(error, `no event for ${timeoutMs} ms`, true, { timeout: true });
    if (error instanceof Anthropic.APIError) {
      const errorType = error.type ?? undefined;
      throw streamError(error, `${errorType ?? 'error'} event: ${error.apiMessage ?? describeError(error)}`, RETRYABLE_ERROR_TYPES.has(errorType ?? ''), {
        errorType,
        requestId: error.requestID ?? undefined,
      });
    }
    throw streamError(error, describeError(error), true);
  } finally {
    clearTimeout(idleTimer);
  }
  // The SDK ends the iteration quietly on abort: never let that pass as a complete answer.
  if (request.signal?.aborted) throw abortError(request.signal, answeredModel);
  if (idle.signal.aborted) throw streamError(undefined, `no event for ${timeoutMs} ms`, true, { timeout: true });
  if (!stopped) throw streamError(undefined, 'the stream ended before message_stop (truncated answer)', true);
  const warnings: string[] = [];
  yield { type: 'usage', usage: usageOf(priceTable, answeredModel, rawUsage, warnings) };
  yield { type: 'finish', finishReason: mapFinishReason(stopReason, structured !== undefined), model: answeredModel };
}
