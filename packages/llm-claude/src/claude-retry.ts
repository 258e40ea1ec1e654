// Retries a Messages API call (backoff, capped retry-after, x-should-retry), then tries the fallback model once.
import Anthropic from '@anthropic-ai/sdk';
import { FishError, FishErrorCode, backoffDelay, errorMessage, parseRetryAfter, type LLMGenerateRequest, type Logger } from '@fish-sre/core';
import { SCOPE, type ClaudeErrors } from './claude-errors.js';

/** Anthropic's own client retries this way: 0.5 s doubling to 8 s, up to a quarter off at random. */
const RETRY_BACKOFF = { initialDelayMs: 500, maxDelayMs: 8000, jitter: 0.25 };

export interface RetrySettings {
  model: string;
  fallbackModel: string | undefined;
  maxRetries: number;
  maxRetryDelayMs: number;
  logger: Logger;
  sleep: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
  errors: ClaudeErrors;
}

/**
 * Runs `call` with retries (408/409/429/5xx/529, timeouts, connection errors; `x-should-retry`
 * obeyed), then once more on the fallback model when the main one stays unavailable.
 */
export async function withRetries<T>(settings: RetrySettings, request: LLMGenerateRequest, call: (modelId: string) => Promise<T>): Promise<{ value: T; model: string; warnings: string[] }> {
  const { fallbackModel, maxRetries, maxRetryDelayMs, logger, sleep, errors } = settings;
  const signal = request.signal;
  const primary = request.model ?? settings.model;
  const models = fallbackModel && fallbackModel !== primary ? [primary, fallbackModel] : [primary];
  const warnings: string[] = [];
  let lastError: FishError | undefined;
  for (const [modelIndex, modelId] of models.entries()) {
    if (modelIndex > 0) {
      warnings.push(`fell back to ${modelId}: ${lastError?.message ?? 'main model unavailable'}`);
      logger.warn('claude: falling back to the fallback model', { model: modelId, reason: lastError?.details['errorType'] ?? lastError?.details['statusCode'] });
    }
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw errors.abortError(signal, modelId);
      try {
        const value = await call(modelId);
        return { value, model: modelId, warnings };
      } catch (error) {
        if (signal?.aborted) throw errors.abortError(signal, modelId);
        const fishError = errors.toFishError(error, modelId, attempt);
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
          throw errors.abortError(signal ?? new AbortController().signal, modelId);
        }
      }
    }
    const status = lastError?.details['statusCode'];
    const unavailable = lastError?.isRetryable === true || status === 404;
    if (!unavailable || lastError?.details['aborted'] === true) break;
  }
  throw lastError ?? new FishError({ code: FishErrorCode.LLM_REQUEST_FAILED, message: errorMessage(SCOPE, 'request failed') });
}
