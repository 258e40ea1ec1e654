// Response side of the Ollama provider: finish reasons and turning client errors into redacted FishErrors.
import { FishError, FishErrorCode, describeError, errorMessage, redactError, type LLMFinishReason } from '@fish-sre/core';

export const SCOPE = 'ollama';
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export function mapFinishReason(doneReason: string | undefined, hasToolCalls: boolean): LLMFinishReason {
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

export type RequestError = (error: unknown, modelId: string, attempts: number, deadline: AbortSignal, signal?: AbortSignal) => FishError;

/** The error mapping of one provider: its host and deadline named, configured header secrets redacted. */
export function createErrorMapper(setup: { host: string; timeoutMs: number; redact: (text: string) => string }): { requestError: RequestError; sanitizedCause: (error: unknown) => Error } {
  const { host, timeoutMs, redact } = setup;
  /** The client's error with any configured header secret redacted (a `cause` ends up in logs). */
  const sanitizedCause = (error: unknown): Error => redactError(error, redact);

  // Same shape as llm-claude's toFishError, different logic: the ollama client throws one
  // ResponseError with a status (404: the model is not pulled) and a timeout is our own deadline,
  // where the Anthropic SDK has an error class per failure. The redacted cause is core's redactError.
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
  return { requestError, sanitizedCause };
}
