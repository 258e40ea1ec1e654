import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DurationSchema, durationProblem, parseDuration, requireDurationUnits } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1.5s', 1500],
    [45, 45],
    [0, 0],
  ] as const)('parses %j (a number is milliseconds)', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each(['', '12', 'five minutes', '5 m', '-1s', '1y', '5m30', -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('DurationSchema', () => {
  const Options = z.object({ initialDelay: DurationSchema, timeout: DurationSchema.default(30_000) }).strict();

  it('takes a number as milliseconds in the TypeScript API (initialDelay: 50 waits 50 ms)', () => {
    expect(Options.parse({ initialDelay: 50 })).toEqual({ initialDelay: 50, timeout: 30_000 });
    expect(Options.parse({ initialDelay: '50ms', timeout: '2m' })).toEqual({ initialDelay: 50, timeout: 120_000 });
  });

  it('refuses a bare number in a file, saying it needs a unit', () => {
    const result = requireDurationUnits(() => Options.safeParse({ initialDelay: 50 }));
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: ['initialDelay'], message: expect.stringContaining('50 has no unit: write a duration with its unit, like "50s" or "50ms"') });
    expect(requireDurationUnits(() => Options.parse({ initialDelay: '50s' }))).toEqual({ initialDelay: 50_000, timeout: 30_000 });
  });

  it('accepts 0 in a file (it is the same in every unit) and a default is never re-checked', () => {
    expect(requireDurationUnits(() => Options.parse({ initialDelay: 0 }))).toEqual({ initialDelay: 0, timeout: 30_000 });
  });

  it('refuses a string without a unit everywhere', () => {
    expect(Options.safeParse({ initialDelay: '30' }).error?.issues[0]?.message).toBe('"30" has no unit: write a duration with its unit, like "30s" or "30ms"');
    expect(Options.safeParse({ initialDelay: 'soon' }).error?.issues[0]?.message).toBe('expected a duration like "30s", "5m" or "1h", got "soon"');
    expect(Options.safeParse({ initialDelay: -5 }).error?.issues[0]?.message).toMatch(/milliseconds ≥ 0/);
  });

  it('goes back to milliseconds once the file parse is over, even when it threw', () => {
    expect(() =>
      requireDurationUnits(() => {
        throw new Error('broken');
      }),
    ).toThrow('broken');
    expect(Options.parse({ initialDelay: 50 }).initialDelay).toBe(50);
  });

  it('describes what is wrong', () => {
    expect(durationProblem(30, { unitsRequired: true })).toMatch(/could mean seconds or milliseconds/);
    expect(durationProblem(30)).toBeUndefined();
    expect(durationProblem(true)).toBe('expected a duration like "30s", "5m" or "1h", got true');
  });
});
