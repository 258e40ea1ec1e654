import { describe, expect, it } from 'vitest';
import { StreamIds } from './stream-ids.js';

describe('StreamIds', () => {
  it('gives each host+service one number, the same every time', () => {
    const ids = new StreamIds();
    const web = ids.id('penny', 'web');
    expect(ids.id('penny', 'db')).not.toBe(web);
    expect(ids.id('lancelot', 'web')).not.toBe(web);
    expect(ids.id('penny', 'web')).toBe(web);
    expect(ids.streams).toBe(3);
  });

  it('keeps strings a key string would confuse apart (separators, empty parts)', () => {
    const ids = new StreamIds();
    const pairs: Array<[string, string]> = [
      ['a\0b', 'c'],
      ['a', 'b\0c'],
      ['', 'ab'],
      ['ab', ''],
      ['a', 'b'],
    ];
    const numbers = pairs.map(([host, service]) => ids.id(host, service));
    expect(new Set(numbers).size).toBe(pairs.length);
    expect(pairs.map(([host, service]) => ids.id(host, service))).toEqual(numbers);
  });

  it('starts afresh past its limit and never gives a number twice', () => {
    const ids = new StreamIds(3);
    const seen = new Map<number, string>();
    for (let round = 0; round < 4; round++) {
      for (const service of ['a', 'b', 'c', 'd', 'e']) {
        const id = ids.id(`host-${round % 2}`, service);
        const name = `host-${round % 2}/${service}`;
        expect(seen.get(id) ?? name).toBe(name);
        seen.set(id, name);
        expect(ids.streams).toBeLessThanOrEqual(3);
      }
    }
  });
});
