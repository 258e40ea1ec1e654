import Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import {
  FishError,
  FishErrorCode,
  backoffDelay,
  createSecretRedactor,
  describeError,
  errorMessage,
  silentLogger,
  type LLMContentPart,
  type LLMFinishReason,
  type LLMGenerateRequest,
  type LLMGenerateResult,
  type LLMMessage,
  type LLMProvider,
  type LLMStreamPart,
  type LLMToolCall,
  type LLMUsage,
  type Logger,
  parseOptions,
  parseRetryAfter,
  sleepOrAbort,
} from '@fish-sre/core';
import { costEur, defaultPriceTable, lookupPrice, DEFAULT_USD_TO_EUR, type ClaudeModelPrice } from './pricing.js';

const PriceSchema = z.strictObject({ inputEurPerMillion: z.number().nonnegative(), outputEurPerMillion: z.number().nonnegative() });

/** Options of the Claude provider, as written in a config file. */
export const ClaudeProviderOptionsSchema = z.strictObject({
  /** Anthropic API key. @default process.env.ANTHROPIC_API_KEY (required one way or the other) */
  apiKey: z.string().min(1).optional(),
  /** API base URL, without `/v1`. @default process.env.ANTHROPIC_BASE_URL or https://api.anthropic.com */
  baseURL: z.url().optional(),
  /** Default model. @default 'claude-sonnet-4-6' */
  model: z.string().min(1).optional(),
  /** Model tried once when the main one stays overloaded/unavailable after the retries (529, 5xx, 404). */
  fallbackModel: z.string().min(1).optional(),
  /** Retries after the first attempt, on 408/409/429/5xx/529 and connection errors or timeouts. @default 2 */
  maxRetries: z.number().int().min(0).max(10).optional(),
  /** Time allowed for one attempt until the response headers (streams: until the first byte). @default 120000 */
  timeoutMs: z.number().int().positive().optional(),
  /** Longest `retry-after` honoured; a longer one fails at once (retryable) instead of sleeping. @default 60000 */
  maxRetryDelayMs: z.number().int().nonnegative().optional(),
  /** `max_tokens` when the request does not say. @default 1024 */
  maxOutputTokens: z.number().int().positive().optional(),
  /** EUR per million tokens per model id (or id prefix). Merged over the defaults. */
  priceTable: z.record(z.string(), PriceSchema).optional(),
  /** Rate used to convert the default USD prices. @default 0.86 */
  usdToEur: z.number().positive().optional(),
});

/** Options of `createClaudeProvider`: the config plus injectable I/O. */
export type ClaudeProviderOptions = z.input<typeof ClaudeProviderOptionsSchema> & {
  /** Instance name (the config's `llm.name`). @default 'claude' */
  name?: string;
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  /** Waits between retries; injectable so tests need not sleep. */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
  /** Environment used for `ANTHROPIC_API_KEY`. @default process.env */
  env?: Record<string, string | undefined>;
};

export const DEFAULT_CLAUDE_MODEL = 'claude-sonnet-4-6';
const DEFAULT_MAX_OUTPUT_TOKENS = 1024;
const TOOL_USE_OVERHEAD_TOKENS = 350;
const SCOPE = 'claude';

export interface ClaudeProvider extends LLMProvider {
  readonly provider: 'claude';
  readonly fallbackModelId: string | undefined;
  estimateCostEur(request: LLMGenerateRequest): number;
  check(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
}

type MessageParam = Anthropic.MessageParam;
type ContentBlockParam = Anthropic.ContentBlockParam;

/** A name the API accepts for a tool (`^[a-zA-Z0-9_-]{1,128}$`). */
function toolName(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 128);
  return cleaned.length > 0 ? cleaned : 'output';
}

function toContent(content: string | LLMContentPart[]): string | ContentBlockParam[] {
  if (typeof content === 'string') return content;
  return content.map((part): ContentBlockParam => {
    switch (part.type) {
      case 'text':
        return { type: 'text', text: part.text };
      case 'tool-call':
        return { type: 'tool_use', id: part.toolCallId, name: part.toolName, input: part.input ?? {} };
      case 'tool-result':
        return { type: 'tool_result', tool_use_id: part.toolCallId, content: part.output, ...(part.isError ? { is_error: true } : {}) };
    }
  });
}

function toMessages(messages: LLMMessage[]): MessageParam[] {
  return messages.map((message) => ({ role: message.role, content: toContent(message.content) }));
}

function mapFinishReason(stopReason: string | null | undefined, structured: boolean): LLMFinishReason {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'tool_use':
      return structured ? 'stop' : 'tool-calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'refusal':
      return 'refusal';
    default:
      return 'other';
  }
}

interface RawUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Anthropic's own client retries this way: 0.5 s doubling to 8 s, up to a quarter off at random. */
const RETRY_BACKOFF = { initialDelayMs: 500, maxDelayMs: 8000, jitter: 0.25 };

const RETRYABLE_ERROR_TYPES = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

interface Prepared {
  params: Anthropic.MessageCreateParamsNonStreaming;
  warnings: string[];
  /** The tool name carrying the structured answer, and whether its value was wrapped in `{value}`. */
  structured: { tool: string; wrapped: boolean } | undefined;
}

export function createClaudeProvider(input: ClaudeProviderOptions = {}): ClaudeProvider {
  const { name, fetch, logger: givenLogger, sleep: givenSleep, env: givenEnv, ...config } = input;
  const options = { ...parseOptions(ClaudeProviderOptionsSchema, config, SCOPE), name, fetch, logger: givenLogger, sleep: givenSleep, env: givenEnv };
  const env = options.env ?? process.env;
  const apiKey = options.apiKey ?? env['ANTHROPIC_API_KEY'];
  if (!apiKey) {
    throw new FishError({
      code: FishErrorCode.PLUGIN_OPTIONS_INVALID,
      message: errorMessage(SCOPE, 'no API key: set the `apiKey` option or the ANTHROPIC_API_KEY environment variable'),
    });
  }
  const redact = createSecretRedactor([apiKey]);
  const logger = options.logger ?? silentLogger;
  const model = options.model ?? DEFAULT_CLAUDE_MODEL;
  const fallbackModel = options.fallbackModel && options.fallbackModel !== model ? options.fallbackModel : undefined;
  const maxRetries = options.maxRetries ?? 2;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
  const defaultMaxOutputTokens = options.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  const priceTable = { ...defaultPriceTable(options.usdToEur ?? DEFAULT_USD_TO_EUR), ...options.priceTable };
  const sleep = options.sleep ?? sleepOrAbort;

  // Retries are ours (counted, logged, capped `retry-after`, fallback model), so the SDK makes one attempt.
  const client = new Anthropic({
    apiKey,
    ...(options.baseURL !== undefined ? { baseURL: options.baseURL } : {}),
    maxRetries: 0,
    timeout: timeoutMs,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    logLevel: 'off',
  });

  const usageOf = (modelId: string, raw: RawUsage, warnings: string[]): LLMUsage => {
    const tokens = {
      inputTokens: raw.input_tokens ?? 0,
      cacheCreationInputTokens: raw.cache_creation_input_tokens ?? 0,
      cacheReadInputTokens: raw.cache_read_input_tokens ?? 0,
      outputTokens: raw.output_tokens ?? 0,
    };
    const { price, known } = lookupPrice(priceTable, modelId);
    if (!known) warnings.push(`no price for model ${modelId} in the price table: priced as the most expensive known model`);
    return {
      inputTokens: tokens.inputTokens + tokens.cacheCreationInputTokens + tokens.cacheReadInputTokens,
      outputTokens: tokens.outputTokens,
      costEur: costEur(price, tokens),
    };
  };

  const prepare = (request: LLMGenerateRequest, modelId: string): Prepared => {
    const warnings: string[] = [];
    if (request.temperature !== undefined) {
      warnings.push('temperature is not sent: the Messages API version used by @anthropic-ai/sdk 1.x (2026-10-21) has no temperature parameter');
    }
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: modelId,
      max_tokens: request.maxOutputTokens ?? defaultMaxOutputTokens,
      messages: toMessages(request.messages),
    };
    if (request.system !== undefined && request.system.length > 0) params.system = request.system;
    let structured: Prepared['structured'];
    if (request.schema) {
      const name = toolName(request.schema.name);
      const schema = request.schema.jsonSchema;
      // input_schema must be an object schema: anything else is wrapped and unwrapped again.
      const wrapped = schema['type'] !== 'object';
      params.tools = [
        {
          name,
          description: request.schema.description ?? `Report the answer as ${name}.`,
          input_schema: (wrapped ? { type: 'object', properties: { value: schema }, required: ['value'] } : schema) as Anthropic.Tool.InputSchema,
        },
      ];
      params.tool_choice = { type: 'tool', name };
      structured = { tool: name, wrapped };
      if (request.tools && request.tools.length > 0) warnings.push('tools are not sent with a schema: the schema is forced as the only tool');
    } else if (request.tools && request.tools.length > 0) {
      params.tools = request.tools.map((tool) => ({ name: tool.name, description: tool.description, input_schema: tool.inputSchema as Anthropic.Tool.InputSchema }));
    }
    return { params, warnings, structured };
  };

  /**
   * The SDK's error, with the key redacted from its message and without its response body or
   * headers: a `cause` ends up in logs, and a proxy may echo the key back.
   */
  const sanitizedCause = (error: unknown): Error => {
    const sanitized = new Error(redact(describeError(error)));
    sanitized.name = error instanceof Error ? error.name : 'Error';
    if (error instanceof Error && error.stack) sanitized.stack = redact(error.stack);
    return sanitized;
  };

  const abortError = (signal: AbortSignal, model: string): FishError =>
    new FishError({ code: FishErrorCode.LLM_REQUEST_FAILED, message: errorMessage(SCOPE, `request to ${model} aborted`), cause: signal.reason, isRetryable: false, details: { aborted: true, model } });

  const toFishError = (error: unknown, modelId: string, attempts: number): FishError => {
    if (FishError.isInstance(error)) return error;
    if (error instanceof Anthropic.APIConnectionTimeoutError) {
      return new FishError({
        code: FishErrorCode.LLM_REQUEST_FAILED,
        message: redact(errorMessage(SCOPE, `request to ${modelId} timed out after ${timeoutMs} ms (${attempts} attempt${attempts === 1 ? '' : 's'})`)),
        isRetryable: true,
        details: { model: modelId, attempts, timeout: true },
      });
    }
    if (error instanceof Anthropic.APIConnectionError) {
      const cause = error.cause === undefined ? '' : `: ${describeError(error.cause)}${error.cause instanceof Error && error.cause.cause ? ` (${describeError(error.cause.cause)})` : ''}`;
      return new FishError({
        code: FishErrorCode.LLM_REQUEST_FAILED,
        message: redact(errorMessage(SCOPE, `cannot reach the Messages API at ${client.baseURL}${cause} (model ${modelId}, ${attempts} attempt${attempts === 1 ? '' : 's'})`)),
        cause: sanitizedCause(error),
        isRetryable: true,
        details: { model: modelId, attempts },
      });
    }
    if (error instanceof Anthropic.APIError) {
      const status = error.status;
      const errorType = error.type ?? undefined;
      const apiMessage = error.apiMessage ?? describeError(error);
      const retryable = status === undefined ? RETRYABLE_ERROR_TYPES.has(errorType ?? '') : status === 408 || status === 409 || status === 429 || status >= 500;
      const what = status === undefined ? `connection to the Messages API failed: ${apiMessage}` : `Messages API answered ${status}${errorType ? ` ${errorType}` : ''}: ${apiMessage}`;
      return new FishError({
        code: FishErrorCode.LLM_REQUEST_FAILED,
        message: redact(errorMessage(SCOPE, `${what} (model ${modelId}, ${attempts} attempt${attempts === 1 ? '' : 's'})`)),
        cause: sanitizedCause(error),
        isRetryable: retryable,
        details: { statusCode: status, errorType, requestId: error.requestID ?? undefined, model: modelId, attempts },
      });
    }
    return new FishError({
      code: FishErrorCode.LLM_REQUEST_FAILED,
      message: redact(errorMessage(SCOPE, `request to ${modelId} failed: ${describeError(error)}`)),
      cause: sanitizedCause(error),
      isRetryable: false,
      details: { model: modelId, attempts },
    });
  };

  /**
   * Runs `call` with retries (408/409/429/5xx/529, timeouts, connection errors; `x-should-retry`
   * obeyed), then once more on the fallback model when the main one stays unavailable.
   */
  const withRetries = async <T>(request: LLMGenerateRequest, call: (modelId: string) => Promise<T>): Promise<{ value: T; model: string; warnings: string[] }> => {
    const signal = request.signal;
    const primary = request.model ?? model;
    const models = fallbackModel && fallbackModel !== primary ? [primary, fallbackModel] : [primary];
    const warnings: string[] = [];
    let lastError: FishError | undefined;
    for (const [modelIndex, modelId] of models.entries()) {
      if (modelIndex > 0) {
        warnings.push(`fell back to ${modelId}: ${lastError?.message ?? 'main model unavailable'}`);
        logger.warn('claude: falling back to the fallback model', { model: modelId, reason: lastError?.details['errorType'] ?? lastError?.details['statusCode'] });
      }
      for (let attempt = 1; ; attempt++) {
        if (signal?.aborted) throw abortError(signal, modelId);
        try {
          const value = await call(modelId);
          return { value, model: modelId, warnings };
        } catch (error) {
          if (signal?.aborted) throw abortError(signal, modelId);
          const fishError = toFishError(error, modelId, attempt);
          lastError = fishError;
          const headers = error instanceof Anthropic.APIError ? error.headers : undefined;
          const shouldRetryHeader = headers?.get('x-should-retry');
          const retryable = shouldRetryHeader === 'true' ? true : shouldRetryHeader === 'false' ? false : fishError.isRetryable;
          if (!retryable || attempt > maxRetries) break;
          const retryAfter = parseRetryAfter(headers);
          if (retryAfter !== undefined && retryAfter > maxRetryDelayMs) {
            fishError.details['retryAfterMs'] = retryAfter;
            throw fishError;
          }
          const backoff = retryAfter ?? backoffDelay(attempt, RETRY_BACKOFF);
          logger.info('claude: retrying', { model: modelId, attempt, statusCode: fishError.details['statusCode'], delayMs: Math.round(backoff) });
          try {
            await sleep(backoff, signal);
          } catch {
            throw abortError(signal ?? new AbortController().signal, modelId);
          }
        }
      }
      const status = lastError?.details['statusCode'];
      const unavailable = lastError?.isRetryable === true || status === 404;
      if (!unavailable || lastError?.details['aborted'] === true) break;
    }
    throw lastError ?? new FishError({ code: FishErrorCode.LLM_REQUEST_FAILED, message: errorMessage(SCOPE, 'request failed') });
  };

  const estimateCostEur = (request: LLMGenerateRequest): number => {
    let characters = request.system?.length ?? 0;
    for (const message of request.messages) characters += typeof message.content === 'string' ? message.content.length : JSON.stringify(message.content).length;
    if (request.tools) characters += JSON.stringify(request.tools).length;
    if (request.schema) characters += JSON.stringify(request.schema).length;
    // Tool use adds a system prompt of ~350 tokens (Anthropic's tool-use pricing notes).
    const toolOverhead = request.tools?.length || request.schema ? TOOL_USE_OVERHEAD_TOKENS : 0;
    const inputTokens = Math.ceil(characters / 3.5) + toolOverhead;
    const outputTokens = request.maxOutputTokens ?? defaultMaxOutputTokens;
    const candidates = [request.model ?? model, ...(fallbackModel ? [fallbackModel] : [])];
    return Math.max(...candidates.map((candidate) => costEur(lookupPrice(priceTable, candidate).price, { inputTokens, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, outputTokens })));
  };

  const generate = async (request: LLMGenerateRequest): Promise<LLMGenerateResult> => {
    const preparedWarnings: string[] = [];
    let structured: Prepared['structured'];
    const {
      value: message,
      model: usedModel,
      warnings,
    } = await withRetries(request, (modelId) => {
      const prepared = prepare(request, modelId);
      preparedWarnings.splice(0, preparedWarnings.length, ...prepared.warnings);
      structured = prepared.structured;
      return client.messages.create(prepared.params, { ...(request.signal ? { signal: request.signal } : {}) });
    });
    const allWarnings = [...preparedWarnings, ...warnings];
    let text = '';
    const toolCalls: LLMToolCall[] = [];
    let object: unknown;
    for (const block of message.content) {
      if (block.type === 'text') text += block.text;
      else if (block.type === 'tool_use') {
        if (structured && block.name === structured.tool) {
          object = structured.wrapped ? (block.input as { value?: unknown } | null)?.value : block.input;
        } else {
          toolCalls.push({ toolCallId: block.id, toolName: block.name, input: block.input });
        }
      }
    }
    const answeredModel = message.model || usedModel;
    const usage = usageOf(answeredModel, message.usage, allWarnings);
    return {
      text,
      ...(object !== undefined ? { object } : {}),
      toolCalls,
      usage,
      finishReason: mapFinishReason(message.stop_reason, structured !== undefined),
      model: answeredModel,
      warnings: allWarnings,
    };
  };

  async function* stream(request: LLMGenerateRequest): AsyncGenerator<LLMStreamPart> {
    let structured: Prepared['structured'];
    // `timeoutMs` bounds the wait for the headers (SDK) and then every silence between two events.
    const idle = new AbortController();
    const streamSignal = request.signal ? AbortSignal.any([request.signal, idle.signal]) : idle.signal;
    const { value: events, model: usedModel } = await withRetries(request, (modelId) => {
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
    yield { type: 'usage', usage: usageOf(answeredModel, rawUsage, warnings) };
    yield { type: 'finish', finishReason: mapFinishReason(stopReason, structured !== undefined), model: answeredModel };
  }

  const check = async (signal?: AbortSignal): Promise<{ ok: boolean; detail: string }> => {
    try {
      const info = await client.models.retrieve(model, {}, { ...(signal ? { signal } : {}), maxRetries: 0 });
      return { ok: true, detail: `Anthropic API reachable, model ${info.id} available` };
    } catch (error) {
      return { ok: false, detail: toFishError(error, model, 1).message };
    }
  };

  return {
    specificationVersion: 'v1',
    name: options.name ?? 'claude',
    provider: 'claude',
    modelId: model,
    fallbackModelId: fallbackModel,
    generate,
    stream,
    estimateCostEur,
    check,
    close: async () => {},
  };
}
