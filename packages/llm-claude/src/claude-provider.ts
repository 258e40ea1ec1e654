// The Claude LLM provider: its options schema and the factory wiring request, retry, response and stream modules.
import Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import {
  FishError,
  FishErrorCode,
  createSecretRedactor,
  errorMessage,
  silentLogger,
  type LLMGenerateRequest,
  type LLMGenerateResult,
  type LLMProvider,
  type Logger,
  parseOptions,
  sleepOrAbort,
} from '@fish-sre/core';
import { SCOPE, createClaudeErrors } from './claude-errors.js';
import { prepareRequest, type StructuredTool } from './claude-request.js';
import { estimateRequestCostEur, mapFinishReason, readContent, usageOf } from './claude-response.js';
import { withRetries, type RetrySettings } from './claude-retry.js';
import { streamMessage } from './claude-stream.js';
import { defaultPriceTable, DEFAULT_USD_TO_EUR } from './pricing.js';

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

export interface ClaudeProvider extends LLMProvider {
  readonly provider: 'claude';
  readonly fallbackModelId: string | undefined;
  estimateCostEur(request: LLMGenerateRequest): number;
  check(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
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

  const errors = createClaudeErrors({ redact, timeoutMs, baseURL: client.baseURL });
  const retry: RetrySettings = { model, fallbackModel, maxRetries, maxRetryDelayMs, logger, sleep, errors };
  const prepare = (request: LLMGenerateRequest, modelId: string) => prepareRequest(request, modelId, defaultMaxOutputTokens);

  const generate = async (request: LLMGenerateRequest): Promise<LLMGenerateResult> => {
    const preparedWarnings: string[] = [];
    let structured: StructuredTool;
    const {
      value: message,
      model: usedModel,
      warnings,
    } = await withRetries(retry, request, (modelId) => {
      const prepared = prepare(request, modelId);
      preparedWarnings.splice(0, preparedWarnings.length, ...prepared.warnings);
      structured = prepared.structured;
      return client.messages.create(prepared.params, { ...(request.signal ? { signal: request.signal } : {}) });
    });
    const allWarnings = [...preparedWarnings, ...warnings];
    const { text, toolCalls, object } = readContent(message.content, structured);
    const answeredModel = message.model || usedModel;
    const usage = usageOf(priceTable, answeredModel, message.usage, allWarnings);
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

  const check = async (signal?: AbortSignal): Promise<{ ok: boolean; detail: string }> => {
    try {
      const info = await client.models.retrieve(model, {}, { ...(signal ? { signal } : {}), maxRetries: 0 });
      return { ok: true, detail: `Anthropic API reachable, model ${info.id} available` };
    } catch (error) {
      return { ok: false, detail: errors.toFishError(error, model, 1).message };
    }
  };

  return {
    specificationVersion: 'v1',
    name: options.name ?? 'claude',
    provider: 'claude',
    modelId: model,
    fallbackModelId: fallbackModel,
    generate,
    stream: (request) => streamMessage({ client, retry, timeoutMs, priceTable, prepare }, request),
    estimateCostEur: (request) => estimateRequestCostEur(request, { model, fallbackModel, priceTable, defaultMaxOutputTokens }),
    check,
    close: async () => {},
  };
}
