import { describe, expect, it } from 'vitest';
import { makePattern, metricEvent } from '../../test-support/fixtures.js';
import { compareMetric } from '../metric-compare.js';
import { MetricSignals } from './metric-signals.js';

const catalogOf = (op: string, threshold: number, forDuration: string | number = 0) => ({
  patterns: [
    makePattern({
      id: 'load-high',
      required_signals: [{ id: 's', metric: { query: 'load', op: op as '>', threshold, for: forDuration } }],
      samples: { match: [{ message: 'm', metric: { name: 'load', value: threshold } }] },
    }),
  ],
  scriptsDir: '/x',
  loadedFrom: '/x',
  loadedAt: 0,
  digest: 'd',
});

describe('metric signals', () => {
  it('compares with every operator through the one comparison; NaN never holds', () => {
    expect((['>', '>=', '<', '<=', '==', '!='] as const).map((op) => [op, compareMetric(op, 5, 5), compareMetric(op, 6, 5), compareMetric(op, Number.NaN, 5)])).toEqual([
      ['>', false, true, false],
      ['>=', true, true, false],
      ['<', false, false, false],
      ['<=', true, false, false],
      ['==', true, false, false],
      ['!=', false, true, false],
    ]);
    const signals = new MetricSignals(catalogOf('!=', 0));
    expect(signals.hits(metricEvent('load', Number.NaN))).toEqual([]);
  });

  it('fires at once without `for`, and only for its metric', () => {
    const signals = new MetricSignals(catalogOf('>=', 4));
    expect(signals.hits(metricEvent('load', 4))).toEqual([{ pattern: expect.objectContaining({ id: 'load-high' }), signalIds: ['s'] }]);
    expect(signals.hits(metricEvent('load', 3.9))).toEqual([]);
    expect(signals.hits(metricEvent('other', 10))).toEqual([]);
  });

  it('decides `for` once, from how long the source saw the condition hold: no second wait', () => {
    const signals = new MetricSignals(catalogOf('>', 90, '1m'));
    const held = (heldForMs: number | undefined) => ({ ...metricEvent('load', 95), metric: { name: 'load', value: 95, ...(heldForMs === undefined ? {} : { heldForMs }) } });
    // The first episode the source reports (held 60 s) opens it at once.
    expect(signals.hits(held(60_000))).toHaveLength(1);
    expect(signals.hits(held(59_999))).toEqual([]);
    // A bare sample (no duration measured) satisfies only signals without `for`.
    expect(signals.hits(held(undefined))).toEqual([]);
    expect(new MetricSignals(catalogOf('>', 90)).hits(held(undefined))).toHaveLength(1);
  });
});
