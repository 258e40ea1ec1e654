import type { z } from 'zod';
import { FishError, FishErrorCode, errorMessage, formatZodIssues } from '../errors.js';

/**
 * Edit distance between two words (insertions, deletions, substitutions and swaps of two
 * neighbours each cost 1), compared without case: `startat` is one step from nothing but
 * `startAt`, `tokn` one from `token`.
 */
export function editDistance(left: string, right: string): number {
  const a = left.toLowerCase();
  const b = right.toLowerCase();
  const rows = Array.from({ length: a.length + 1 }, (_, index) => [index, ...new Array<number>(b.length).fill(0)]);
  for (let column = 0; column <= b.length; column++) rows[0]![column] = column;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The known name closest to `unknown`, when it is close enough to be a typo (at most one edit
 * for short names, a third of the length for longer ones); `undefined` otherwise, so a message
 * never suggests something unrelated.
 */
export function closestName(unknown: string, known: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  const limit = Math.max(1, Math.floor(unknown.length / 3));
  for (const name of known) {
    const distance = editDistance(unknown, name);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

interface UnrecognizedKeysIssue {
  code: 'unrecognized_keys';
  keys: string[];
  inst?: unknown;
}

/** The keys a zod object schema knows, read from the schema instance zod hands to an error map. */
function knownKeys(schema: unknown): string[] {
  const shape = (schema as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return shape === undefined ? [] : Object.keys(shape);
}

/** Says which keys are unknown, the near one each was probably meant to be, and what is known. */
export function describeUnknownKeys(keys: readonly string[], known: readonly string[]): string {
  const parts = keys.map((key) => {
    const near = closestName(key, known);
    return `unknown option "${key}"${near === undefined ? '' : ` (did you mean "${near}"?)`}`;
  });
  const list = known.length === 0 ? '' : `; known options: ${known.join(', ')}`;
  return `${parts.join(', ')}${list}`;
}

/**
 * A zod error map (pass it as `schema.safeParse(value, { error: unknownKeyErrorMap })`) that turns
 * the refusal of a strict object into `unknown option "tokn" (did you mean "token"?)`. It only
 * rewrites unknown-key issues; everything else keeps zod's own message.
 */
export function unknownKeyErrorMap(issue: { code?: string; keys?: string[]; inst?: unknown }): string | undefined {
  if (issue.code !== 'unrecognized_keys') return undefined;
  const unrecognized = issue as UnrecognizedKeysIssue;
  return describeUnknownKeys(unrecognized.keys, knownKeys(unrecognized.inst));
}

/**
 * Validates a plugin's options with its schema (the one way every plugin and the registry do
 * it): unknown keys are named with a "did you mean" suggestion, and each problem carries the
 * path of the field, prefixed by `where` (the config path, e.g. `notifier.options`).
 * @throws FishError PLUGIN_OPTIONS_INVALID naming every bad field
 */
export function parseOptions<Schema extends z.ZodType>(schema: Schema, value: unknown, scope: string, where?: string): z.output<Schema> {
  const result = schema.safeParse(value ?? {}, { error: unknownKeyErrorMap });
  if (result.success) return result.data;
  // An unknown key is reported at the key itself (`notifier.options.tokn`), not at its parent.
  const issues = result.error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const path = keys.length === 1 ? [...issue.path, keys[0]!] : issue.path;
    return { path: where === undefined ? path : [where, ...path], message: issue.message };
  });
  throw new FishError({
    code: FishErrorCode.PLUGIN_OPTIONS_INVALID,
    message: errorMessage(scope, `invalid options: ${formatZodIssues(issues)}`),
    cause: result.error,
    details: { ...(where === undefined ? {} : { where }), issues: issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })) },
  });
}
