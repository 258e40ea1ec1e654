import { z } from 'zod';
import { FishError, FishErrorCode, errorMessage, httpRequest, type HttpResponse } from '@fish-sre/core';

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
 * The Bot API says how long to wait in the body of a 429 (`parameters.retry_after`), not
 * necessarily in a `Retry-After` header: this copies it there, so core's `httpRequest` honours it
 * like any other server's.
 */
function withRetryAfterHeader(fetchImpl: typeof globalThis.fetch): typeof globalThis.fetch {
  return async (input, init) => {
    const response = await fetchImpl(input, init);
    if (response.status !== 429 || response.headers.has('retry-after')) return response;
    const text = await response.text();
    let seconds: unknown;
    try {
      seconds = (JSON.parse(text) as { parameters?: { retry_after?: unknown } }).parameters?.retry_after;
    } catch {
      seconds = undefined;
    }
    const headers = new Headers(response.headers);
    if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) headers.set('retry-after', String(seconds));
    return new Response(text, { status: response.status, statusText: response.statusText, headers });
  };
}

/**
 * `POST <apiUrl>/bot<token>/<method>` with JSON, through core's `httpRequest` (timeout per
 * attempt, back-off on network errors and 5xx, a 429's `retry_after` honoured up to
 * `maxRetryAfterMs`). The bot token is part of the URL, so an error never carries what the
 * transport said about the request: it is rebuilt from the method name and a redacted detail,
 * without a `cause`.
 */
export function createTelegramCall(options: TelegramApiOptions): TelegramCall {
  const base = `${options.apiUrl.replace(/\/+$/, '')}/bot${options.botToken}`;
  const fetchImpl = withRetryAfterHeader(options.fetch);
  return async function call<T>(method: string, parameters: Record<string, unknown>, callOptions: { signal?: AbortSignal; timeoutMs?: number; retries?: number } = {}): Promise<T> {
    let response: HttpResponse;
    try {
      response = await httpRequest({
        url: `${base}/${method}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(parameters),
        scope: options.scope,
        what: method,
        errorCode: FishErrorCode.NOTIFIER_FAILED,
        timeoutMs: callOptions.timeoutMs ?? options.timeoutMs,
        retries: callOptions.retries ?? options.retries,
        retryDelayMs: options.retryDelayMs,
        maxRetryDelayMs: options.maxRetryAfterMs,
        fetch: fetchImpl,
        redact: (text) => options.redact(text.split(base).join(`${options.apiUrl.replace(/\/+$/, '')}/bot<token>`)),
        ...(callOptions.signal ? { signal: callOptions.signal } : {}),
      });
    } catch (error) {
      if (callOptions.signal?.aborted) throw callOptions.signal.reason;
      // No cause: what fetch said about the request may hold its URL, and with it the bot token.
      const failed = FishError.isInstance(error) ? error : undefined;
      throw new FishError({
        code: FishErrorCode.NOTIFIER_FAILED,
        message: options.redact(failed?.message ?? errorMessage(options.scope, `${method} failed`)),
        isRetryable: failed?.isRetryable ?? true,
      });
    }
    let parsed: z.infer<typeof EnvelopeSchema>;
    try {
      parsed = EnvelopeSchema.parse(JSON.parse(response.text));
    } catch {
      throw new FishError({
        code: FishErrorCode.NOTIFIER_FAILED,
        message: errorMessage(options.scope, `${method}: HTTP ${response.status} with a body that is not a Bot API answer`),
        isRetryable: response.status >= 500,
      });
    }
    if (parsed.ok) return parsed.result as T;
    throw new TelegramApiError(method, parsed.error_code, options.redact(parsed.description), options.scope, parsed.parameters?.retry_after);
  };
}

/** "message is not modified" is what an edit with the same content answers: nothing to do. */
export function isNotModified(error: unknown): boolean {
  return error instanceof TelegramApiError && error.errorCode === 400 && error.description.includes('message is not modified');
}

export function isMessageGone(error: unknown): boolean {
  return error instanceof TelegramApiError && error.errorCode === 400 && /message to edit not found|message can't be edited/.test(error.description);
}
