import { describe, expect, it } from 'vitest';
import { SlidingWindowCounter, SustainedCondition } from './sliding-window.js';

describe('SlidingWindowCounter', () => {
  it('excludes an event at now - window and includes one at now - window + 1', () => {
    const counter = new SlidingWindowCounter();
    counter.add('k', 1000, 100);
    expect(counter.count('k', 1100, 100)).toBe(0);
    expect(counter.count('k', 1099, 100)).toBe(1);
    const other = new SlidingWindowCounter();
    other.add('k', 1000, 100);
    expect(other.add('k', 1100, 100)).toBe(1); // the event at 1000 is out
    const third = new SlidingWindowCounter();
    third.add('k', 1001, 100);
    expect(third.add('k', 1100, 100)).toBe(2); // 1001 = 1100 - 100 + 1 is in
  });

  it('counts events in the window as they arrive', () => {
    const counter = new SlidingWindowCounter();
    expect([0, 10, 20, 40].map((t) => counter.add('k', t, 25))).toEqual([1, 2, 3, 2]);
  });

  it('handles out-of-order events: a late event counts in the window ending at the newest event', () => {
    const counter = new SlidingWindowCounter();
    counter.add('k', 1000, 100);
    counter.add('k', 1050, 100);
    // late, but within the window of the newest event (1050): 3 events in (950, 1050]
    expect(counter.add('k', 990, 100)).toBe(3);
    expect(counter.count('k', 1050, 100)).toBe(3);
    // very late: older than the newest window, not counted in it
    expect(counter.add('k', 900, 100)).toBe(3);
    expect(counter.count('k', 1050, 100)).toBe(3);
    counter.add('k', 1200, 100);
    expect(counter.count('k', 1200, 100)).toBe(1);
  });

  it('keeps keys isolated', () => {
    const counter = new SlidingWindowCounter();
    counter.add('a', 0, 100);
    counter.add('a', 1, 100);
    expect(counter.add('b', 2, 100)).toBe(1);
    expect(counter.count('a', 2, 100)).toBe(2);
    counter.reset('a');
    expect(counter.count('a', 2, 100)).toBe(0);
    expect(counter.count('b', 2, 100)).toBe(1);
  });

  it('caps the number of keys, sweeping idle ones first', () => {
    const counter = new SlidingWindowCounter(1000, 3);
    counter.add('idle', 0, 100);
    counter.add('b', 500, 100);
    counter.add('c', 500, 100);
    counter.add('d', 550, 100); // full: the idle key is swept, active ones stay
    expect(counter.keys).toBe(3);
    expect(counter.count('idle', 550, 100)).toBe(0);
    expect(counter.count('b', 550, 100)).toBe(1);
    counter.add('e', 560, 100); // all active: the oldest-inserted key goes
    expect(counter.keys).toBeLessThanOrEqual(3);
    expect(counter.count('e', 560, 100)).toBe(1);
  });

  it('caps the events kept per key', () => {
    const counter = new SlidingWindowCounter(5);
    let last = 0;
    for (let t = 0; t < 20; t++) last = counter.add('k', t, 1000);
    expect(last).toBe(5);
  });
});

describe('SlidingWindowCounter against a reference model', () => {
  it('agrees with a plain list per key on random runs: numeric keys, late events, both caps', () => {
    // The reference keeps every event of a key sorted, drops those out of the window of the
    // newest, then the oldest past the cap: what the counter must return, with no shortcuts.
    let state = 11;
    const random = () => (state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) / 4_294_967_296;
    for (const maxPerKey of [1, 2, 7, 50]) {
      const counter = new SlidingWindowCounter<number>(maxPerKey);
      const model = new Map<number, number[]>();
      const disagreements: string[] = [];
      let now = 0;
      for (let step = 0; step < 4_000; step++) {
        const key = Math.floor(random() * 5);
        now += Math.floor(random() * 30);
        // One event in five is late, by up to 150 ms.
        const time = random() < 0.2 ? now - Math.floor(random() * 150) : now;
        const windowMs = 100;
        const times = model.get(key) ?? [];
        times.push(time);
        times.sort((a, b) => a - b);
        const newest = times[times.length - 1]!;
        const kept = times.filter((at) => at > newest - windowMs).slice(-maxPerKey);
        model.set(key, kept);
        const got = counter.add(key, time, windowMs);
        if (got !== kept.length) disagreements.push(`cap ${maxPerKey}, step ${step}, key ${key}: ${got} != ${kept.length}`);
      }
      expect(disagreements).toEqual([]);
    }
  });
});

describe('SustainedCondition', () => {
  it('fires exactly when the condition has held for `for`', () => {
    const condition = new SustainedCondition();
    expect(condition.observe('k', true, 1000, 300)).toBe(false);
    expect(condition.observe('k', true, 1299, 300)).toBe(false);
    expect(condition.observe('k', true, 1300, 300)).toBe(true);
    expect(condition.observe('k', true, 1400, 300)).toBe(true);
  });

  it('resets on a false observation', () => {
    const condition = new SustainedCondition();
    condition.observe('k', true, 0, 300);
    condition.observe('k', true, 200, 300);
    expect(condition.observe('k', false, 250, 300)).toBe(false);
    expect(condition.observe('k', true, 300, 300)).toBe(false);
    expect(condition.observe('k', true, 599, 300)).toBe(false);
    expect(condition.observe('k', true, 600, 300)).toBe(true);
  });

  it('fires at once with for = 0 and keeps keys isolated', () => {
    const condition = new SustainedCondition();
    expect(condition.observe('a', true, 0, 0)).toBe(true);
    condition.observe('b', true, 0, 100);
    expect(condition.observe('a', false, 50, 100)).toBe(false);
    expect(condition.observe('b', true, 100, 100)).toBe(true);
  });
});
