// The Ollama provider: its options schema and the factory (streaming chat, retries, cost estimate, health check).
import { z } from 'zod';
import { Ollama, type ChatRequest, type ChatResponse, type Message } from 'ollama';
import {
  FishError,
  FishErrorCode,
  backoffDelay,
  describeError,
  errorMessage,
  redactSecrets,
  silentLogger,
  type LLMGenerateRequest,
  type LLMGenerateResult,
  type LLMProvider,
  type LLMStreamPart,
  type LLMToolCall,
  type LLMUsage,
  type Logger,
  parseOptions,
  sleepOrAbort,
} from '@fish-sre/core';
import { SCOPE, createErrorMapper, mapFinishReason } from './ollama-errors.js';
import { buildChatRequest } from './ollama-request.js';

/** Price in EUR per million tokens (0 for a machine you own; set it if you rent the GPU). */
const PriceSchema = z.strictObject({ inputEurPerMillion: z.number().nonnegative(), outputEurPerMillion: z.number().nonnegative() });
export type OllamaPrice = z.output<typeof PriceSchema>;

/** Options of the Ollama provider, as written in a config file. */
export const OllamaProviderOptionsSchema = z.strictObject({
  /** Ollama server. A host without a scheme gets `http://` and port 11434. @default 'http://127.0.0.1:11434' */
  host: z.string().min(1).optional(),
  /** Model name as `ollama list` shows it (`llama3.1`, `qwen3:8b`). */
  model: z.string().min(1, 'the `model` option is required (a name from `ollama list`)'),
  /** How long Ollama keeps the model loaded after a call (`'5m'`, `'1h'`, seconds, `-1` forever). */
  keepAlive: z.union([z.string().min(1), z.number()]).optional(),
  /** Whole-request deadline, streaming included. @default 600000 (local models can be slow) */
  timeoutMs: z.number().int().positive().optional(),
  /** Retries before an answer starts, on 429/500/502/503 and connection errors. @default 2 */
  maxRetries: z.number().int().min(0).max(10).optional(),
  /** `num_predict` when the request sets no `maxOutputTokens`. @default unset (the model's own limit) */
  maxOutputTokens: z.number().int().positive().optional(),
  /** @default { inputEurPerMillion: 0, outputEurPerMillion: 0 } */
  price: PriceSchema.optional(),
  /** Extra headers (e.g. Authorization for a reverse proxy in front of Ollama). Never logged. */
  headers: z.record(z.string(), z.string()).optional(),
});

/** Options of `createOllamaProvider`: the config plus injectable I/O. */
export type OllamaProviderOptions = z.input<typeof OllamaProviderOptionsSchema> & {
  /** Instance name (the config's `llm.name`). @default 'ollama' */
  name?: string;
  fetch?: typeof globalThis.fetch;
  logger?: Logger;
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
};

export interface OllamaProvider extends LLMProvider {
  readonly provider: 'ollama';
  estimateCostEur(request: LLMGenerateRequest): number;
  check(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
}

export function createOllamaProvider(input: OllamaProviderOptions): OllamaProvider {
  const { name, fetch, logger: givenLogger, sleep: givenSleep, ...config } = input ?? ({} as OllamaProviderOptions);
  const options = { ...parseOptions(OllamaProviderOptionsSchema, config, SCOPE), name, fetch, logger: givenLogger, sleep: givenSleep };
  const host = options.host ?? 'http://127.0.0.1:11434';
  const model = options.model;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const maxRetries = options.maxRetries ?? 2;
  const price = options.price ?? { inputEurPerMillion: 0, outputEurPerMillion: 0 };
  const logger = options.logger ?? silentLogger;
  const sleep = options.sleep ?? sleepOrAbort;
  const baseFetch = options.fetch ?? globalThis.fetch;
  const secrets = Object.values(options.headers ?? {}).filter((value) => value.length >= 4);
  const redact = (text: string): string => secrets.reduce((result, secret) => result.split(secret).join('[REDACTED]'), redactSecrets(text));
  let toolCallCounter = 0;
  const { requestError, sanitizedCause } = createErrorMapper({ host, timeoutMs, redact });
  const buildRequest = (request: LLMGenerateRequest, warnings: string[]): ChatRequest =>
    buildChatRequest(request, warnings, { model, maxOutputTokens: options.maxOutputTokens, keepAlive: options.keepAlive });

  /**
   * One client per call: the ollama client takes no per-call signal for `stream:false` and its
   * `abort()` ends every stream of the client, so the call's signal and deadline go in through fetch.
   */
  const clientFor = (signal: AbortSignal): Ollama =>
    new Ollama({
      host,
      ...(options.headers ? { headers: options.headers } : {}),
      fetch: ((input: string | URL | Request, init?: RequestInit) => baseFetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal })) as typeof fetch,
    });

  const usageOf = (response: Partial<ChatResponse>): LLMUsage => {
    // Metrics are omitempty: a cached prompt once had no prompt_eval_count.
    const inputTokens = typeof response.prompt_eval_count === 'number' ? response.prompt_eval_count : 0;
    const outputTokens = typeof response.eval_count === 'number' ? response.eval_count : 0;
    return { inputTokens, outputTokens, costEur: (inputTokens * price.inputEurPerMillion + outputTokens * price.outputEurPerMillion) / 1_000_000 };
  };

  /** Opens the NDJSON stream (retrying failures before it starts) and yields its objects. */
  async function* chatStream(request: LLMGenerateRequest, chat: ChatRequest, purpose: 'generate' | 'stream'): AsyncGenerator<ChatResponse> {
    const signal = request.signal;
    const modelId = chat.model;
    if (signal?.aborted) throw requestError(new Error('aborted'), modelId, 0, AbortSignal.abort(), signal);
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const client = clientFor(combined);
    let iterator: AsyncIterable<ChatResponse> | undefined;
    for (let attempt = 1; iterator === undefined; attempt++) {
      try {
        iterator = await client.chat({ ...chat, stream: true });
      } catch (error) {
        const fishError = requestError(error, modelId, attempt, deadline, signal);
        if (!fishError.isRetryable || attempt > maxRetries || fishError.details['timeout'] === true) throw fishError;
        const backoff = backoffDelay(attempt, { initialDelayMs: 500, maxDelayMs: 8000, jitter: 0.25 });
        logger.info('ollama: retrying', { model: modelId, attempt, statusCode: fishError.details['statusCode'], delayMs: Math.round(backoff) });
        try {
          await sleep(backoff, combined);
        } catch {
          throw requestError(new Error('aborted'), modelId, attempt, deadline, signal);
        }
      }
    }
    let done = false;
    try {
      for await (const part of iterator) {
        yield part;
        if (part.done) done = true;
      }
    } catch (error) {
      if (signal?.aborted || deadline.aborted) throw requestError(error, modelId, 1, deadline, signal);
      throw new FishError({
        code: FishErrorCode.LLM_STREAM_ERROR,
        message: redact(errorMessage(SCOPE, `${purpose === 'stream' ? 'stream' : 'answer'} from ${modelId} failed: ${describeError(error)}`)),
        cause: sanitizedCause(error),
        // A model crash or an unexpected EOF mid-answer may well pass on a second try.
        isRetryable: true,
        details: { model: modelId },
      });
    }
    if (signal?.aborted) throw requestError(new Error('aborted'), modelId, 1, deadline, signal);
    if (!done) {
      throw new FishError({
        code: FishErrorCode.LLM_STREAM_ERROR,
        message: errorMessage(SCOPE, `stream from ${modelId} ended before done:true (truncated answer)`),
        isRetryable: true,
        details: { model: modelId },
      });
    }
  }

  const toToolCalls = (calls: Message['tool_calls']): LLMToolCall[] =>
    (calls ?? []).map((call) => ({
      toolCallId: (call as { id?: unknown }).id && typeof (call as { id?: unknown }).id === 'string' ? String((call as { id?: unknown }).id) : `call_${++toolCallCounter}_${Date.now().toString(36)}`,
      toolName: call.function.name,
      input: call.function.arguments ?? {},
    }));

  /**
   * Generates through the NDJSON stream rather than `stream:false`: a non-streamed answer sends no
   * header until generation ends, and Node's fetch gives up on headers after exactly 300 s.
   */
  const generate = async (request: LLMGenerateRequest): Promise<LLMGenerateResult> => {
    const warnings: string[] = [];
    const chat = buildRequest(request, warnings);
    let content = '';
    const toolCalls: LLMToolCall[] = [];
    let final: ChatResponse | undefined;
    for await (const part of chatStream(request, chat, 'generate')) {
      content += part.message?.content ?? '';
      toolCalls.push(...toToolCalls(part.message?.tool_calls));
      if (part.done) final = part;
    }
    let object: unknown;
    let text = content;
    if (request.schema) {
      try {
        object = JSON.parse(content);
        text = '';
      } catch {
        // Left to the caller: the raw text comes back, `object` stays undefined.
        warnings.push('the structured answer is not valid JSON: returned as text');
      }
    }
    const answeredModel = final?.model ?? chat.model;
    return {
      text,
      ...(object !== undefined ? { object } : {}),
      toolCalls,
      usage: usageOf(final ?? {}),
      finishReason: mapFinishReason(final?.done_reason, toolCalls.length > 0),
      model: answeredModel,
      warnings,
    };
  };

  async function* stream(request: LLMGenerateRequest): AsyncGenerator<LLMStreamPart> {
    const warnings: string[] = [];
    const chat = buildRequest(request, warnings);
    let final: ChatResponse | undefined;
    let toolCallCount = 0;
    for await (const part of chatStream(request, chat, 'stream')) {
      const text = part.message?.content ?? '';
      if (text.length > 0) yield { type: 'text-delta', text };
      for (const call of toToolCalls(part.message?.tool_calls)) {
        toolCallCount++;
        yield { type: 'tool-call', ...call };
      }
      if (part.done) final = part;
    }
    yield { type: 'usage', usage: usageOf(final ?? {}) };
    yield { type: 'finish', finishReason: mapFinishReason(final?.done_reason, toolCallCount > 0), model: final?.model ?? chat.model };
  }

  const estimateCostEur = (request: LLMGenerateRequest): number => {
    if (price.inputEurPerMillion === 0 && price.outputEurPerMillion === 0) return 0;
    let characters = request.system?.length ?? 0;
    for (const message of request.messages) characters += typeof message.content === 'string' ? message.content.length : JSON.stringify(message.content).length;
    if (request.tools) characters += JSON.stringify(request.tools).length;
    if (request.schema) characters += 2 * JSON.stringify(request.schema.jsonSchema).length;
    const inputTokens = Math.ceil(characters / 3.5);
    const outputTokens = request.maxOutputTokens ?? options.maxOutputTokens ?? 4096;
    return (inputTokens * price.inputEurPerMillion + outputTokens * price.outputEurPerMillion) / 1_000_000;
  };

  const check = async (signal?: AbortSignal): Promise<{ ok: boolean; detail: string }> => {
    const deadline = AbortSignal.timeout(Math.min(timeoutMs, 10_000));
    const client = clientFor(signal ? AbortSignal.any([signal, deadline]) : deadline);
    try {
      const { version } = await client.version();
      const { models } = await client.list();
      const names = models.map((entry) => entry.name);
      const present = names.some((name) => name === model || name === `${model}:latest`);
      return present
        ? { ok: true, detail: `Ollama ${version} at ${host}, model ${model} available` }
        : { ok: false, detail: `Ollama ${version} at ${host} has no model ${model} (run \`ollama pull ${model}\`; it has: ${names.join(', ') || 'none'})` };
    } catch (error) {
      return { ok: false, detail: requestError(error, model, 1, deadline, signal).message };
    }
  };

  return { specificationVersion: 'v1', name: options.name ?? 'ollama', provider: 'ollama', modelId: model, generate, stream, estimateCostEur, check, close: async () => {} };
}
