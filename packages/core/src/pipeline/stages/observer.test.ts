import { describe, expect, it } from 'vitest';
import { EngineCounters, sourceLabels, type EngineCounter, type EngineCountersView } from './observer.js';

describe('EngineCounters', () => {
  it('counts every counter, and forwards each step to an observer without a counter list', () => {
    const calls: Array<[EngineCounter, string | undefined]> = [];
    const counters = new EngineCounters({ count: (counter, labels) => calls.push([counter, labels?.source]) });
    counters.add('events');
    counters.add('received', sourceLabels('loki'));
    counters.add('events');
    expect(counters.get('events')).toBe(2);
    expect(counters.get('received')).toBe(1);
    expect(counters.get('errors')).toBe(0);
    expect(calls).toEqual([
      ['events', undefined],
      ['received', 'loki'],
      ['events', undefined],
    ]);
    expect(counters.snapshot()).toMatchObject({ events: 2, errors: 0 });
  });

  it('forwards only the counters an observer lists, and still counts the others', () => {
    const calls: EngineCounter[] = [];
    const counters = new EngineCounters({ counters: ['duplicates', 'dropped'], count: (counter) => calls.push(counter) });
    for (const counter of ['events', 'duplicates', 'matched', 'dropped', 'events'] as const) counters.add(counter);
    expect(calls).toEqual(['duplicates', 'dropped']);
    expect(counters.get('events')).toBe(2);
    expect(counters.get('matched')).toBe(1);
  });

  it('keeps counting when the observer throws', () => {
    const counters = new EngineCounters({
      count: () => {
        throw new Error('broken exporter');
      },
    });
    counters.add('events');
    counters.add('events');
    expect(counters.get('events')).toBe(2);
  });

  it('keeps per-source counts for an observer that attaches, readable at any time, and none for one that does not', () => {
    let view: EngineCountersView | undefined;
    const calls: EngineCounter[] = [];
    const counters = new EngineCounters({ counters: [], count: (counter) => calls.push(counter), attach: (given) => (view = given) });
    const loki = sourceLabels('loki');
    const slot = counters.sourceSlot(loki);
    for (let index = 0; index < 3; index++) counters.addToSource('received', loki, slot);
    counters.add('duplicates', loki);
    counters.add('stale', sourceLabels('file'));
    counters.add('dropped', sourceLabels('file'));
    counters.add('matched');
    expect(Object.fromEntries(view!.bySource())).toEqual({
      loki: { received: 3, dropped: 0, stale: 0, duplicates: 1 },
      file: { received: 0, dropped: 1, stale: 1, duplicates: 0 },
    });
    expect(counters.get('received')).toBe(3);
    expect(calls).toEqual([]);

    const plain = new EngineCounters({ count: (counter) => calls.push(counter) });
    expect(plain.sourceSlot(loki)).toBeUndefined();
    plain.addToSource('received', loki, undefined);
    expect(plain.get('received')).toBe(1);
    expect(calls).toEqual(['received']);
  });

  it('still counts when attach throws', () => {
    const counters = new EngineCounters({
      attach: () => {
        throw new Error('broken exporter');
      },
    });
    counters.add('received', sourceLabels('loki'));
    expect(counters.get('received')).toBe(1);
  });
});
