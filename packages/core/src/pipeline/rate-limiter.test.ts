import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from './rate-limiter.js';

describe('KeyedRateLimiter', () => {
  it('allows a burst, then refuses and counts the refusals', () => {
    const limiter = new KeyedRateLimiter({ burst: 3, perMinute: 1 });
    const now = 1_000_000;
    expect([1, 2, 3, 4, 5].map(() => limiter.tryTake('penny/homepage', now))).toEqual([true, true, true, false, false]);
    expect(limiter.limited).toBe(2);
  });

  it('refills at perMinute', () => {
    const limiter = new KeyedRateLimiter({ burst: 2, perMinute: 2 });
    let now = 0;
    expect(limiter.tryTake('k', now)).toBe(true);
    expect(limiter.tryTake('k', now)).toBe(true);
    expect(limiter.tryTake('k', now)).toBe(false);
    now += 29_999; // 2 per minute: one token every 30 s
    expect(limiter.tryTake('k', now)).toBe(false);
    now += 1;
    expect(limiter.tryTake('k', now)).toBe(true);
    expect(limiter.tryTake('k', now)).toBe(false);
    now += 10 * 60_000; // a long pause refills only up to the burst
    expect(limiter.tryTake('k', now)).toBe(true);
    expect(limiter.tryTake('k', now)).toBe(true);
    expect(limiter.tryTake('k', now)).toBe(false);
    expect(limiter.limited).toBe(4);
  });

  it('keeps keys isolated', () => {
    const limiter = new KeyedRateLimiter({ burst: 1, perMinute: 1 });
    expect(limiter.tryTake('penny/a', 0)).toBe(true);
    expect(limiter.tryTake('penny/a', 0)).toBe(false);
    expect(limiter.tryTake('penny/b', 0)).toBe(true);
    expect(limiter.tryTake('leonard/a', 0)).toBe(true);
    expect(limiter.limited).toBe(1);
  });

  it('does not grant extra tokens to an event that arrives out of order', () => {
    const limiter = new KeyedRateLimiter({ burst: 1, perMinute: 1 });
    expect(limiter.tryTake('k', 120_000)).toBe(true);
    expect(limiter.tryTake('k', 60_000)).toBe(false); // late event: no refill, no time travel
    expect(limiter.tryTake('k', 120_000)).toBe(false); // still no time has passed since the take
  });
});
