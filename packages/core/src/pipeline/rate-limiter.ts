/**
 * A token bucket per key (host + service): at most `burst` incidents at once, refilled at
 * `perMinute`. A log flood on one service therefore produces a handful of proposals and LLM
 * calls, not thousands; every refusal is counted.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  private limitedCount = 0;

  constructor(private readonly options: { burst: number; perMinute: number; maxKeys?: number } = { burst: 3, perMinute: 1 }) {}

  /** Takes one token for `key` at `now`; false (counted) when the bucket is empty. */
  tryTake(key: string, now: number): boolean {
    const refillPerMs = this.options.perMinute / 60_000;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= (this.options.maxKeys ?? 10_000)) this.buckets.delete(this.buckets.keys().next().value as string);
      bucket = { tokens: this.options.burst, updatedAt: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + Math.max(0, now - bucket.updatedAt) * refillPerMs);
    // A late (out-of-order) event must not move the bucket's clock back: that would refill it twice.
    bucket.updatedAt = Math.max(bucket.updatedAt, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    this.limitedCount++;
    return false;
  }

  get limited(): number {
    return this.limitedCount;
  }
}
