import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLiteralIndex } from './literal-index.js';
import { requiredLiterals } from './regex-literals.js';

describe('requiredLiterals', () => {
  it.each([
    ['function round\\(double precision, integer\\) does not exist', ['function round(double pr']],
    ['(unrecognized|unknown) directive: rate_limit\\b', ['unrecognized directive: ', 'unknown directive: rate_']],
    ['[Ss]napshots?\\b.*Permission denied \\(os error 13\\)', ['permission denied (os er']],
    ['(pq: |FATAL:\\s+)no PostgreSQL user name', ['no postgresql user name']],
    ["Module '[^']+' is disallowed", ["' is disallowed"]],
    ['dial tcp: lookup [a-z]+ on|getaddrinfo (ENOTFOUND|EAI_AGAIN)', ['dial tcp: lookup ', 'getaddrinfo enotfound', 'getaddrinfo eai_again']],
    ['(ab|cd)efg', ['abefg', 'cdefg']],
  ])('%s -> %j', (source, expected) => {
    expect(requiredLiterals(source)).toEqual(expected);
  });

  it.each(['^(a+)+$', '\\d+', 'a.b', '(error|x)', 'ab?c?', '[^a]+', '(foo)?bar?', '\\bok\\b'])('%s has no usable literal', (source) => {
    expect(requiredLiterals(source)).toBeUndefined();
  });

  it('cuts long literals and keeps only their printable-ASCII part', () => {
    expect(requiredLiterals('x'.repeat(100))).toEqual(['x'.repeat(24)]);
    expect(requiredLiterals('café au lait')).toEqual([' au lait']);
  });

  it('is sound: whenever the regex matches a line, the line contains one of the literals (case folded)', () => {
    const sources = ['[Ss]napshots?\\b.*Permission denied', '(unrecognized|unknown) directive: rate_limit', "GF_PATHS_DATA='[^']*' is not writable", 'abc(def|gh)+ij?k', '(?:xyz|wxy){2,}k'];
    const alphabet = fc.constantFrom(
      'a',
      'b',
      'c',
      'd',
      'e',
      'f',
      'g',
      'h',
      'i',
      'j',
      'k',
      'w',
      'x',
      'y',
      'z',
      'S',
      'snapshot',
      'Snapshots ',
      'Permission denied',
      'unknown directive: rate_limit',
      "GF_PATHS_DATA='/x' is not writable",
      ' ',
      '\u212a',
    );
    for (const source of sources) {
      const literals = requiredLiterals(source)!;
      expect(literals, source).toBeDefined();
      const index = createLiteralIndex(literals.map((literal, id) => ({ literal, id })));
      const regex = new RegExp(source, 'iu');
      fc.assert(
        fc.property(fc.array(alphabet, { maxLength: 12 }), (pieces) => {
          const line = pieces.join('');
          let found = false;
          index.scan(line, { found: () => (found = true) });
          return !regex.test(line) || found;
        }),
        { numRuns: 400 },
      );
    }
  });
});

describe('createLiteralIndex', () => {
  it('finds every literal in one pass, overlapping ones and those ending inside others', () => {
    const index = createLiteralIndex([
      { literal: 'he', id: 1 },
      { literal: 'she', id: 2 },
      { literal: 'his', id: 3 },
      { literal: 'hers', id: 4 },
    ]);
    const found: number[] = [];
    index.scan('ushers', { found: (id) => found.push(id) });
    expect(found.sort()).toEqual([1, 2, 4]);
  });

  it('folds ASCII case and the Kelvin sign and long s while scanning', () => {
    const index = createLiteralIndex([{ literal: 'sigkill', id: 7 }]);
    const hits = (text: string) => {
      const found: number[] = [];
      index.scan(text, { found: (id) => found.push(id) });
      return found;
    };
    expect(hits('got SIGKILL')).toEqual([7]);
    expect(hits('got \u017fig\u212aill')).toEqual([7]);
    expect(hits('got sig-kill')).toEqual([]);
    expect(hits('sigkilé sigkil')).toEqual([]);
  });

  it('skipping reports exactly the literals whose cut prefix a line contains, a superset of the full scan', () => {
    const letters = fc.constantFrom('a', 'b', 'c', 'A', 'B', ' ', ':', '\u212a', '\u017f', 'k', 's', '\u00e9', 'x', 'yz', '0123');
    const literal = fc.array(fc.constantFrom('a', 'b', 'c', 'k', 's', ' ', ':'), { minLength: 6, maxLength: 10 }).map((chars) => chars.join(''));
    const fold = (text: string) =>
      text
        .replace(/\u212a/g, 'k')
        .replace(/\u017f/g, 's')
        .replace(/[A-Z]/g, (char) => char.toLowerCase());
    fc.assert(
      fc.property(
        fc.array(literal, { minLength: 1, maxLength: 8 }).chain((texts) =>
          fc.tuple(
            fc.constant(texts),
            fc.array(
              fc.oneof(
                letters,
                fc.constantFrom(...texts),
                fc.constantFrom(...texts).map((text) => text.toUpperCase()),
              ),
              { maxLength: 30 },
            ),
          ),
        ),
        ([texts, pieces]) => {
          const entries = texts.map((text, id) => ({ literal: text, id }));
          const line = pieces.join('');
          const found = (skip: boolean) => {
            const ids = new Set<number>();
            createLiteralIndex(entries, { skip }).scan(line, { found: (id) => ids.add(id) });
            return ids;
          };
          const skipping = found(true);
          const shortest = Math.min(...texts.map((text) => text.length));
          const expected = entries.filter(({ literal: text }) => fold(line).includes(text.slice(0, shortest))).map(({ id }) => id);
          expect([...skipping].sort((a, b) => a - b)).toEqual(expected);
          for (const id of found(false)) expect(skipping.has(id)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a literal that is not lowercase ASCII', () => {
    expect(() => createLiteralIndex([{ literal: 'Abc', id: 0 }])).toThrow(/not lowercase ASCII/);
  });
});
