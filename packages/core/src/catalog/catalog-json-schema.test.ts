import { describe, expect, it } from 'vitest';
import { DurationSchema, requireDurationUnits } from '../util/duration.js';
import { catalogJsonSchema } from './catalog-schema.js';

type Node = Record<string, unknown>;

/** Every sub-schema with the path to it (`properties.cooldown`, `properties.fix.properties.timeout`...). */
function subschemas(node: unknown, path = ''): Array<[string, Node]> {
  if (node === null || typeof node !== 'object') return [];
  const found: Array<[string, Node]> = Array.isArray(node) ? [] : [[path, node as Node]];
  for (const [key, value] of Object.entries(node)) found.push(...subschemas(value, path ? `${path}.${key}` : key));
  return found;
}

const isDuration = (node: Node) =>
  Array.isArray(node.anyOf) && (node.anyOf as Node[]).some((alternative) => alternative.const === 0) && (node.anyOf as Node[]).some((alternative) => typeof alternative.pattern === 'string');

/** What an editor using the JSON Schema accepts for a duration field. */
function schemaAccepts(node: Node, value: unknown): boolean {
  return (node.anyOf as Node[]).some((alternative) =>
    alternative.const !== undefined ? value === alternative.const : typeof value === 'string' && new RegExp(alternative.pattern as string).test(value),
  );
}

describe('the catalog JSON Schema (editors) on durations', () => {
  const schema = catalogJsonSchema();
  const durations = subschemas(schema).filter(([, node]) => isDuration(node));

  it('describes every duration of a pattern with its unit required', () => {
    const paths: string[] = durations.map(([path]) => path.replace(/\.(anyOf|items|oneOf)(\.\d+)?/g, '').replace(/properties\./g, ''));
    expect(paths).toEqual(
      expect.arrayContaining(['required_signals.log.followed_by.within', 'required_signals.metric.for', 'trigger.window', 'fix.timeout', 'verify.timeout', 'rollback.timeout', 'cooldown']),
    );
  });

  it('no longer lets a bare number through anywhere (the old `string | number`)', () => {
    const loose = subschemas(schema).filter(([, node]) => Array.isArray(node.type) && (node.type as string[]).includes('number') && (node.type as string[]).includes('string'));
    expect(loose.map(([path]) => path)).toEqual([]);
  });

  it('accepts exactly what the catalog loader accepts', () => {
    const [, node] = durations[0]!;
    const values: unknown[] = ['30s', '500ms', '1h30m', '2d', '1.5h', ' 5m ', '0s', 0, 30, 1.5, '30', ' 30 ', '30 s', '5 minutes', '', 'm', '-5s', -1, '1e3ms', null];
    for (const value of values) {
      const loaderAccepts = requireDurationUnits(() => DurationSchema.safeParse(value).success);
      expect(schemaAccepts(node, value), `${JSON.stringify(value)}`).toBe(loaderAccepts);
    }
  });
});
