// Turns SDK and connection errors into FishErrors with the API key redacted and retryability decided.
import Anthropic from '@anthropic-ai/sdk';
import { FishError, FishErrorCode, describeError, errorMessage, redactError } from '@fish-sre/core';

export const SCOPE = 'claude';

export const RETRYABLE_ERROR_TYPES = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

export interface ClaudeErrors {
  redact: (text: string) => string;
  /**
   * The SDK's error, with the key redacted from its message and without its response body or
   * headers: a `cause` ends up in logs, and a proxy may echo the key back.
   */
  sanitizedCause(error: unknown): Error;
  abortError(signal: AbortSignal, model: string): FishError;
  toFishError(error: unknown, modelId: string, attempts: number): FishError;
}

export function createClaudeErrors(settings: { redact: (text: string) => string; timeoutMs: number; baseURL: string }): ClaudeErrors {
  const { redact, timeoutMs, baseURL } = settings;

  const sanitizedCause = (error: unknown): Error => redactError(error, redact);

  const abortError = (signal: AbortSignal, model: string): FishError =>
    new FishError({ code: FishErrorCode.LLM_REQUEST_FAILED, message: errorMessage(SCOPE, `request to ${model} aborted`), cause: signal.reason, isRetryable: false, details: { aborted: true, model } });

  // Same shape as llm-ollama's requestError (one FishError per kind of failure), different logic:
  // the Anthropic SDK says what failed by its error classes (timeout, connection, APIError with an
  // error type that decides retryability), where the ollama client has one ResponseError and a
  // timeout is our own deadline. What is the same logic (the redacted cause) is core's redactError.
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
        message: redact(errorMessage(SCOPE, `cannot reach the Messages API at ${baseURL}${cause} (model ${modelId}, ${attempts} attempt${attempts === 1 ? '' : 's'})`)),
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

  return { redact, sanitizedCause, abortError, toFishError };
}
