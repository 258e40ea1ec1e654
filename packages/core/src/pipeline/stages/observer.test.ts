import { describe, expect, it } from 'vitest';
import { EngineCounters, sourceLabels, type EngineCounter } from './observer.js';

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
});
