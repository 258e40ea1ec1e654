import { describe, expect, it } from 'vitest';
import { LruDedup } from './lru-dedup.js';

describe('LruDedup', () => {
  it('admits new ids and refuses duplicates, counting them', () => {
    const dedup = new LruDedup(10);
    expect(dedup.admit('a')).toBe(true);
    expect(dedup.admit('b')).toBe(true);
    expect(dedup.admit('a')).toBe(false);
    expect(dedup.admit('a')).toBe(false);
    expect(dedup.duplicates).toBe(2);
    expect(dedup.size).toBe(2);
  });

  it('keeps at most capacity ids and evicts the oldest first', () => {
    const dedup = new LruDedup(3);
    for (const id of ['a', 'b', 'c', 'd']) expect(dedup.admit(id)).toBe(true);
    expect(dedup.size).toBe(3);
    expect(dedup.evictions).toBe(1);
    expect(dedup.has('a')).toBe(false);
    expect(dedup.has('b')).toBe(true);
    // a was forgotten: it is new again (and evicts b, now the oldest)
    expect(dedup.admit('a')).toBe(true);
    expect(dedup.has('b')).toBe(false);
    expect([...['c', 'd', 'a']].every((id) => dedup.has(id))).toBe(true);
  });

  it('refreshes an id seen again so it is evicted last', () => {
    const dedup = new LruDedup(3);
    dedup.admit('a');
    dedup.admit('b');
    dedup.admit('c');
    expect(dedup.admit('a')).toBe(false); // refresh a: b is now the oldest
    dedup.admit('d');
    expect(dedup.has('a')).toBe(true);
    expect(dedup.has('b')).toBe(false);
    expect(dedup.has('c')).toBe(true);
    dedup.admit('e');
    expect(dedup.has('c')).toBe(false);
    expect(dedup.has('a')).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses capacity %s', (capacity) => {
    expect(() => new LruDedup(capacity)).toThrow(RangeError);
  });
});

describe('LruDedup against a reference model', () => {
  it('agrees with a Map-based LRU on long random runs, for small and odd capacities', () => {
    // The table is open-addressed with backward-shift deletion: a wrong shift would forget or
    // resurrect ids. A plain Map in recency order is the reference.
    let state = 7;
    const random = () => (state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) / 4_294_967_296;
    for (const capacity of [1, 2, 3, 7, 16, 33]) {
      const dedup = new LruDedup(capacity);
      const model = new Map<string, true>();
      const disagreements: string[] = [];
      for (let step = 0; step < 5_000; step++) {
        const id = `id-${Math.floor(random() * capacity * 3)}`;
        const expected = !model.has(id);
        model.delete(id);
        model.set(id, true);
        if (model.size > capacity) model.delete(model.keys().next().value!);
        if (dedup.admit(id) !== expected || dedup.size !== model.size) disagreements.push(`capacity ${capacity}, step ${step}, ${id}`);
      }
      expect(disagreements).toEqual([]);
      for (let index = 0; index < capacity * 3; index++) expect(dedup.has(`id-${index}`)).toBe(model.has(`id-${index}`));
    }
  });
});
