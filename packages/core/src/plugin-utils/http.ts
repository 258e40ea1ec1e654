import { FishError, type FishErrorCode, describeError, errorMessage } from '../errors.js';
import { sleepOrAbort } from '../util/sleep.js';
import { backoffDelay, parseRetryAfter } from './retry.js';

/** One HTTP call with the retry rules every fish-sre plugin shares. */
export interface HttpRequestOptions {
  url: string;
  /** @default 'GET' */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Names the plugin at the start of error messages (`[fish-sre] [ntfy] ...`). */
  scope: string;
  /** What the call is for, in error messages: `proposal p-1 to https://ntfy.sh/fish`. */
  what: string;
  /** Code of the FishError thrown when no answer came (network error, timeout). */
  errorCode: FishErrorCode;
  /** Per attempt. @default 10000 */
  timeoutMs?: number;
  /** Extra attempts after a retryable answer, a timeout or a network error. @default 2 */
  retries?: number;
  /** First back-off delay; doubles each attempt. @default 500 */
  retryDelayMs?: number;
  /** Longest back-off, and the longest `Retry-After` honoured (a longer one is not waited for). @default 30000 */
  maxRetryDelayMs?: number;
  /** Which statuses are worth another attempt. @default 408, 429 and 5xx */
  retryOn?: (status: number) => boolean;
  /** Cancels the call, the back-off included. */
  signal?: AbortSignal;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** @default sleepOrAbort */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
  /** Random source of the back-off jitter. @default Math.random */
  random?: () => number;
  /** Applied to every error message and detail (credentials the plugin knows). @default identity */
  redact?: (text: string) => string;
  /** Told about each retry, to log it. */
  onRetry?: (retry: { attempt: number; delayMs: number; status?: number; error?: string; timedOut?: boolean }) => void;
}

/** The final answer: its status and body as text. Non-2xx answers are returned, not thrown. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** How many attempts it took. */
  attempts: number;
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Makes one HTTP request with a timeout per attempt, retries with exponential back-off on
 * 408/429/5xx and on network errors, honours `Retry-After` (up to `maxRetryDelayMs`), and turns
 * a call that got no answer into a FishError whose message is redacted. `fetch` and `sleep` are
 * injectable, so tests neither monkey-patch nor wait.
 * @throws FishError `errorCode`, retryable, when no answer came after every attempt; or when aborted
 */
export async function httpRequest(options: HttpRequestOptions): Promise<HttpResponse> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const sleep = options.sleep ?? sleepOrAbort;
  const redact = options.redact ?? ((text: string) => text);
  const retries = options.retries ?? 2;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  const retryOn = options.retryOn ?? isRetryableStatus;
  const delay = (attempt: number) =>
    backoffDelay(attempt, { initialDelayMs: options.retryDelayMs ?? 500, maxDelayMs: maxRetryDelayMs, jitter: 0.25, ...(options.random ? { random: options.random } : {}) });
  const failure = (detail: string, cause: unknown, isRetryable: boolean, details: Record<string, unknown> = {}) =>
    new FishError({ code: options.errorCode, message: errorMessage(options.scope, redact(`${options.what} failed: ${detail}`)), cause, isRetryable, details });

  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw failure('aborted', options.signal.reason, false, { aborted: true });
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    let retry: { delayMs: number; status?: number; error?: string; timedOut?: boolean };
    try {
      const response = await fetchImpl(options.url, { method: options.method ?? 'GET', headers: options.headers ?? {}, body: options.body, signal });
      const text = await response.text();
      if (!retryOn(response.status) || attempt > retries) return { status: response.status, headers: response.headers, text, attempts: attempt };
      const asked = parseRetryAfter(response.headers);
      // A server asking for longer than we are willing to wait gets its answer back now.
      if (asked !== undefined && asked > maxRetryDelayMs) return { status: response.status, headers: response.headers, text, attempts: attempt };
      retry = { delayMs: asked ?? delay(attempt), status: response.status };
    } catch (error) {
      if (options.signal?.aborted) throw failure('aborted', options.signal.reason, false, { aborted: true });
      const timedOut = deadline.aborted;
      const detail = timedOut ? `no answer within ${timeoutMs} ms` : describeError(error);
      if (attempt > retries) throw failure(`${detail} (${attempt} attempt${attempt === 1 ? '' : 's'})`, error, true, { attempts: attempt, timedOut });
      retry = { delayMs: delay(attempt), error: redact(detail), timedOut };
    }
    options.onRetry?.({ attempt, ...retry });
    try {
      await sleep(retry.delayMs, options.signal);
    } catch (error) {
      throw failure('aborted', error, false, { aborted: true });
    }
  }
}
