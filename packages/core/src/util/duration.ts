import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const WITH_UNITS = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/**
 * Parses a duration into milliseconds. In the TypeScript API a number is milliseconds, as
 * everywhere in JavaScript; a string needs its unit: `500ms`, `30s`, `5m`, `1h30m`, `2d`.
 * Returns undefined for anything else, so the caller can say where the bad value was.
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const text = value.trim();
  if (!WITH_UNITS.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(amount) * UNITS[unit as string]!;
  return total;
}

export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)}ms`;
  if (milliseconds < 60_000) return `${+(milliseconds / 1000).toFixed(1)}s`;
  if (milliseconds < 3_600_000) return `${+(milliseconds / 60_000).toFixed(1)}m`;
  return `${+(milliseconds / 3_600_000).toFixed(1)}h`;
}

let unitsRequired = 0;

/**
 * Runs a (synchronous) parse of values written in a file — YAML config, catalog patterns, plugin
 * options from the config — during which a `DurationSchema` refuses a bare number: in a file
 * `timeout: 30` could mean seconds or milliseconds, so it must be written `30s` or `30000ms`.
 * (`0` is accepted: it means the same in every unit.)
 */
export function requireDurationUnits<T>(parse: () => T): T {
  unitsRequired++;
  try {
    return parse();
  } finally {
    unitsRequired--;
  }
}

/** What is wrong with a value that is not a duration, for the error message (undefined: nothing). */
export function durationProblem(value: unknown, options: { unitsRequired?: boolean } = {}): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return `expected a duration (milliseconds ≥ 0, or a string like "30s"), got ${String(value)}`;
    if (options.unitsRequired && value !== 0) {
      return `${value} has no unit: write a duration with its unit, like "${value}s" or "${value}ms" (a bare number is refused here, since it could mean seconds or milliseconds)`;
    }
    return undefined;
  }
  if (typeof value !== 'string') return `expected a duration like "30s", "5m" or "1h", got ${JSON.stringify(value) ?? String(value)}`;
  if (parseDuration(value) !== undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return `"${value.trim()}" has no unit: write a duration with its unit, like "${value.trim()}s" or "${value.trim()}ms"`;
  return `expected a duration like "30s", "5m" or "1h", got ${JSON.stringify(value)}`;
}

/**
 * A duration option, parsed to milliseconds. From TypeScript a number is milliseconds; in a file
 * (parsed inside `requireDurationUnits`) it must carry its unit. A string always needs its unit.
 */
export const DurationSchema = z.union([z.string(), z.number()]).transform((value, context) => {
  const problem = durationProblem(value, { unitsRequired: unitsRequired > 0 });
  if (problem) {
    context.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  return parseDuration(value)!;
});

/**
 * The JSON Schema of a duration written in a file (`30s`, `1h30m`, or a bare `0`), for editors:
 * what `DurationSchema` accepts inside `requireDurationUnits`. Surrounding spaces are allowed, as
 * the parser trims them.
 */
export function durationJsonSchema(description?: string): Record<string, unknown> {
  return {
    anyOf: [
      { type: 'string', pattern: `^\\s*${WITH_UNITS.source.slice(1, -1)}\\s*$` },
      { type: 'number', const: 0 },
    ],
    description: description ?? 'A duration with its unit: 500ms, 30s, 5m, 1h30m, 2d (a bare number is refused, except 0).',
  };
}
