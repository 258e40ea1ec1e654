import { z } from 'zod';
import { Ollama, type ChatRequest, type ChatResponse, type Message, type Tool } from 'ollama';
import {
  FishError,
  FishErrorCode,
  backoffDelay,
  describeError,
  errorMessage,
  redactSecrets,
  silentLogger,
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
  sleepOrAbort,
} from '@fish-sre/core';

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

const SCOPE = 'ollama';
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

function toOllamaMessages(system: string | undefined, messages: LLMMessage[]): Message[] {
  const result: Message[] = [];
  if (system) result.push({ role: 'system', content: system });
  for (const message of messages) {
    if (typeof message.content === 'string') {
      result.push({ role: message.role, content: message.content });
      continue;
    }
    let text = '';
    const toolCalls: NonNullable<Message['tool_calls']> = [];
    const toolResults: Message[] = [];
    for (const part of message.content) {
      if (part.type === 'text') text += part.text;
      else if (part.type === 'tool-call') toolCalls.push({ function: { name: part.toolName, arguments: (part.input ?? {}) as Record<string, unknown> } });
      else toolResults.push({ role: 'tool', content: part.isError ? `error: ${part.output}` : part.output, tool_name: part.toolName });
    }
    // Tool results are their own `tool` messages in Ollama's chat format.
    result.push(...toolResults);
    if (text.length > 0 || toolCalls.length > 0) result.push({ role: message.role, content: text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) });
  }
  return result;
}

function mapFinishReason(doneReason: string | undefined, hasToolCalls: boolean): LLMFinishReason {
  if (hasToolCalls) return 'tool-calls';
  if (doneReason === 'stop') return 'stop';
  if (doneReason === 'length') return 'length';
  return 'other';
}

interface ResponseErrorLike {
  name: string;
  error: string;
  status_code: number;
}

function isResponseError(error: unknown): error is ResponseErrorLike {
  return error instanceof Error && error.name === 'ResponseError' && typeof (error as Partial<ResponseErrorLike>).status_code === 'number';
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
  /** The client's error with any configured header secret redacted (a `cause` ends up in logs). */
  const sanitizedCause = (error: unknown): Error => {
    const sanitized = new Error(redact(describeError(error)));
    sanitized.name = error instanceof Error ? error.name : 'Error';
    if (error instanceof Error && error.stack) sanitized.stack = redact(error.stack);
    return sanitized;
  };

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

  const buildRequest = (request: LLMGenerateRequest, warnings: string[]): ChatRequest => {
    let system = request.system;
    const chat: ChatRequest = { model: request.model ?? model, messages: [] };
    if (request.schema) {
      chat.format = request.schema.jsonSchema;
      // Ollama's docs advise grounding the model with the schema in the prompt as well.
      const hint = `Answer only with JSON matching this JSON schema (${request.schema.name}${request.schema.description ? `: ${request.schema.description}` : ''}):\n${JSON.stringify(request.schema.jsonSchema)}`;
      system = system ? `${system}\n\n${hint}` : hint;
      if (request.tools && request.tools.length > 0) warnings.push('tools are not sent with a schema: Ollama cannot force a structured answer and offer tools at once');
    } else if (request.tools && request.tools.length > 0) {
      chat.tools = request.tools.map(
        (tool): Tool => ({ type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.inputSchema as NonNullable<Tool['function']['parameters']> } }),
      );
    }
    chat.messages = toOllamaMessages(system, request.messages);
    const modelOptions: Record<string, number> = {};
    if (request.temperature !== undefined) modelOptions['temperature'] = request.temperature;
    const maxOutputTokens = request.maxOutputTokens ?? options.maxOutputTokens;
    if (maxOutputTokens !== undefined) modelOptions['num_predict'] = maxOutputTokens;
    if (Object.keys(modelOptions).length > 0) chat.options = modelOptions;
    if (options.keepAlive !== undefined) chat.keep_alive = options.keepAlive;
    return chat;
  };

  const requestError = (error: unknown, modelId: string, attempts: number, deadline: AbortSignal, signal?: AbortSignal): FishError => {
    if (FishError.isInstance(error)) return error;
    if (signal?.aborted) {
      return new FishError({ code: FishErrorCode.LLM_REQUEST_FAILED, message: errorMessage(SCOPE, `request to ${modelId} aborted`), cause: signal.reason, details: { aborted: true, model: modelId } });
    }
    if (deadline.aborted) {
      return new FishError({
        code: FishErrorCode.LLM_REQUEST_FAILED,
        message: errorMessage(SCOPE, `request to ${modelId} at ${host} timed out after ${timeoutMs} ms`),
        isRetryable: true,
        details: { timeout: true, model: modelId, attempts },
      });
    }
    if (isResponseError(error)) {
      const status = error.status_code;
      const hint = status === 404 ? ` (pull it with \`ollama pull ${modelId}\`)` : '';
      return new FishError({
        code: FishErrorCode.LLM_REQUEST_FAILED,
        message: redact(errorMessage(SCOPE, `${host} answered ${status}: ${error.error}${hint} (model ${modelId}, ${attempts} attempt${attempts === 1 ? '' : 's'})`)),
        cause: sanitizedCause(error),
        isRetryable: RETRYABLE_STATUSES.has(status),
        details: { statusCode: status, model: modelId, attempts },
      });
    }
    return new FishError({
      code: FishErrorCode.LLM_REQUEST_FAILED,
      message: redact(errorMessage(SCOPE, `cannot reach ${host}: ${describeError(error)}${error instanceof Error && error.cause ? ` (${describeError(error.cause)})` : ''}`)),
      cause: sanitizedCause(error),
      isRetryable: true,
      details: { model: modelId, attempts },
    });
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
