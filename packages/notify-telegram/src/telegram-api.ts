import { z } from 'zod';
import { FishError, FishErrorCode, errorMessage, sleepOrAbort } from '@fish-sre/core';

/** The Bot API's answer envelope (core.telegram.org/bots/api#making-requests). */
const EnvelopeSchema = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({
    ok: z.literal(false),
    error_code: z.number().int(),
    description: z.string(),
    parameters: z.object({ retry_after: z.number().optional(), migrate_to_chat_id: z.number().optional() }).optional(),
  }),
]);

export interface TelegramApiOptions {
  /** `https://api.telegram.org`, or a self-hosted Bot API server / test server. */
  apiUrl: string;
  botToken: string;
  fetch: typeof globalThis.fetch;
  timeoutMs: number;
  /** Extra attempts after a network error, a 5xx or a 429. */
  retries: number;
  retryDelayMs: number;
  /** A 429 asking to wait longer than this is not waited for: the call fails (retryable). */
  maxRetryAfterMs: number;
  redact: (text: string) => string;
  scope: string;
}

/** An error answer of the Bot API, kept structured: callers tell "message is not modified" apart. */
export class TelegramApiError extends FishError {
  constructor(
    readonly method: string,
    readonly errorCode: number,
    readonly description: string,
    scope: string,
    readonly retryAfterSeconds?: number,
  ) {
    super({
      code: FishErrorCode.NOTIFIER_FAILED,
      message: errorMessage(scope, `${method} failed: ${errorCode} ${description}`),
      isRetryable: errorCode === 429 || errorCode >= 500,
      details: { method, errorCode, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) },
    });
  }
}

export type TelegramCall = <T = unknown>(method: string, parameters: Record<string, unknown>, options?: { signal?: AbortSignal; timeoutMs?: number; retries?: number }) => Promise<T>;

/**
 * `POST <apiUrl>/bot<token>/<method>` with JSON. Retries network errors and 5xx with back-off,
 * and 429 after the `retry_after` the API asks for. The bot token is part of the URL: it never
 * appears in an error (errors name the method, not the URL).
 */
export function createTelegramCall(options: TelegramApiOptions): TelegramCall {
  const base = `${options.apiUrl.replace(/\/+$/, '')}/bot${options.botToken}`;
  return async function call<T>(method: string, parameters: Record<string, unknown>, callOptions: { signal?: AbortSignal; timeoutMs?: number; retries?: number } = {}): Promise<T> {
    const retries = callOptions.retries ?? options.retries;
    let delay = options.retryDelayMs;
    for (let attempt = 0; ; attempt++) {
      let failure: FishError;
      try {
        const signals = [AbortSignal.timeout(callOptions.timeoutMs ?? options.timeoutMs), ...(callOptions.signal ? [callOptions.signal] : [])];
        const response = await options.fetch(`${base}/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(parameters),
          signal: AbortSignal.any(signals),
        });
        const text = await response.text();
        let parsed: z.infer<typeof EnvelopeSchema>;
        try {
          parsed = EnvelopeSchema.parse(JSON.parse(text));
        } catch {
          throw new FishError({ code: FishErrorCode.NOTIFIER_FAILED, message: errorMessage(options.scope, `${method}: HTTP ${response.status} with a body that is not a Bot API answer`), isRetryable: response.status >= 500 });
        }
        if (parsed.ok) return parsed.result as T;
        failure = new TelegramApiError(method, parsed.error_code, options.redact(parsed.description), options.scope, parsed.parameters?.retry_after);
      } catch (error) {
        if (callOptions.signal?.aborted) throw callOptions.signal.reason;
        if (FishError.isInstance(error)) failure = error;
        else failure = new FishError({ code: FishErrorCode.NOTIFIER_FAILED, message: errorMessage(options.scope, `${method}: ${options.redact(describe(error))}`), cause: error, isRetryable: true });
      }
      if (!failure.isRetryable || attempt >= retries) throw failure;
      const retryAfterMs = failure instanceof TelegramApiError && failure.retryAfterSeconds !== undefined ? failure.retryAfterSeconds * 1000 : undefined;
      if (retryAfterMs !== undefined && retryAfterMs > options.maxRetryAfterMs) throw failure;
      await sleepOrAbort(retryAfterMs ?? delay, callOptions.signal);
      delay *= 2;
    }
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return error.name === 'TimeoutError' ? 'timed out' : `${error.message}${cause ? ` (${cause})` : ''}`;
  }
  return String(error);
}

/** "message is not modified" is what an edit with the same content answers: nothing to do. */
export function isNotModified(error: unknown): boolean {
  return error instanceof TelegramApiError && error.errorCode === 400 && error.description.includes('message is not modified');
}

export function isMessageGone(error: unknown): boolean {
  return error instanceof TelegramApiError && error.errorCode === 400 && /message to edit not found|message can't be edited/.test(error.description);
}
