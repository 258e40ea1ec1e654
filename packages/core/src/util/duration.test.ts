import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    [45, 45_000],
    ['12', 12_000],
  ] as const)('parses %j', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each(['', 'five minutes', '5 m', '-1s', '1y', '5m30'])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});
