import { describe, expect, it } from 'vitest';
import { makePattern, metricEvent } from '../../test-support/fixtures.js';
import { METRIC_COMPARE, MetricSignals } from './metric-signals.js';

const catalogOf = (op: string, threshold: number, forDuration: string | number = 0) => ({
  patterns: [makePattern({ id: 'load-high', required_signals: [{ id: 's', metric: { query: 'load', op: op as '>', threshold, for: forDuration } }], samples: { match: [{ message: 'm', metric: { name: 'load', value: threshold } }] } })],
  scriptsDir: '/x', loadedFrom: '/x', loadedAt: 0, digest: 'd',
});

describe('metric signals', () => {
  it('compares with every operator', () => {
    expect(Object.entries(METRIC_COMPARE).map(([op, compare]) => [op, compare(5, 5), compare(6, 5)])).toEqual([
      ['>', false, true], ['>=', true, true], ['<', false, false], ['<=', true, false], ['==', true, false], ['!=', false, true],
    ]);
  });

  it('fires at once without `for`, and only for its metric', () => {
    const signals = new MetricSignals(catalogOf('>=', 4));
    expect(signals.hits(metricEvent('load', 4))).toEqual([{ pattern: expect.objectContaining({ id: 'load-high' }), signalIds: ['s'] }]);
    expect(signals.hits(metricEvent('load', 3.9))).toEqual([]);
    expect(signals.hits(metricEvent('other', 10))).toEqual([]);
  });

  it('needs the condition held for `for`; a sample that does not hold resets it', () => {
    const signals = new MetricSignals(catalogOf('>', 90, '1m'));
    expect(signals.hits(metricEvent('load', 95, { time: 0 }))).toEqual([]);
    expect(signals.hits(metricEvent('load', 80, { time: 30_000 }))).toEqual([]);
    expect(signals.hits(metricEvent('load', 95, { time: 60_000 }))).toEqual([]);
    expect(signals.hits(metricEvent('load', 95, { time: 120_000 }))).toHaveLength(1);
  });

  it('holds each label set (series) on its own', () => {
    const signals = new MetricSignals(catalogOf('>', 90, '1m'));
    signals.hits(metricEvent('load', 95, { time: 0, labels: { device: 'sda' } }));
    expect(signals.hits(metricEvent('load', 95, { time: 60_000, labels: { device: 'sdb' } }))).toEqual([]);
    expect(signals.hits(metricEvent('load', 95, { time: 60_000, labels: { device: 'sda' } }))).toHaveLength(1);
  });
});
