/** How long to wait before retry number `attempt` (1 for the first retry). */
export interface BackoffOptions {
  /** Delay before the first retry; it doubles with each attempt. */
  initialDelayMs: number;
  /** The delay never grows past this. */
  maxDelayMs: number;
  /**
   * Fraction of the delay taken off at random, so that many clients retrying the same outage do
   * not all come back at once. 0 waits exactly the doubled delay. @default 0.5
   */
  jitter?: number;
  /** Random source in [0, 1); injectable for tests. @default Math.random */
  random?: () => number;
}

/**
 * Exponential back-off with jitter, the one rule every plugin retries by:
 * `min(max, initial * 2^(attempt - 1))`, minus up to `jitter` of it at random.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent);
  const jitter = options.jitter ?? 0.5;
  return Math.round(ceiling * (1 - (options.random ?? Math.random)() * jitter));
}

/**
 * Reads how long a server asks a client to wait: `retry-after-ms` (Anthropic), then `Retry-After`
 * as seconds or as an HTTP date (RFC 9110, section 10.2.3). `undefined` when there is none or it
 * cannot be read, so the caller falls back to its own back-off.
 */
export function parseRetryAfter(headers: Pick<Headers, 'get'> | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const milliseconds = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number.parseFloat(value) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}
