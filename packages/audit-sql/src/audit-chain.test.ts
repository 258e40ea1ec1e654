import { describe, expect, it } from 'vitest';
import { ChainVerifier, GENESIS_HASH, canonicalJson, chainHash, verifyRows, type StoredChainRow } from './audit-chain.js';

function chain(count: number): StoredChainRow[] {
  const rows: StoredChainRow[] = [];
  let previous = GENESIS_HASH;
  for (let seq = 1; seq <= count; seq++) {
    const row = { seq, at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), entity: 'system', entityId: 'system', action: 'tick', dataJson: canonicalJson({ seq, b: [1, { z: 1, a: 2 }] }) };
    const hash = chainHash(previous, row);
    rows.push({ ...row, prevHash: previous, hash });
    previous = hash;
  }
  return rows;
}

describe('the audit chain', () => {
  it('sorts object keys at every depth, so equal values hash equally', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: undefined } })).toBe('{"a":{"d":[{"x":2,"y":1}]},"b":1}');
  });

  it('accepts an untouched chain whose head matches, row by row as in one pass', () => {
    const rows = chain(5);
    const head = { seq: 5, hash: rows[4]!.hash };
    expect(verifyRows(rows, head)).toEqual({ ok: true, rows: 5, headHash: rows[4]!.hash, headSeq: 5 });
    const verifier = new ChainVerifier();
    for (const row of rows) expect(verifier.add(row)).toBeUndefined();
    expect(verifier.finish(head)).toEqual({ ok: true, rows: 5, headHash: rows[4]!.hash, headSeq: 5 });
    expect(verifyRows([], { seq: 0, hash: GENESIS_HASH })).toMatchObject({ ok: true, rows: 0 });
  });

  it('names the first edited, missing or cut-off row', () => {
    const rows = chain(5);
    expect(verifyRows(rows.map((row) => (row.seq === 3 ? { ...row, action: 'tock' } : row)))).toMatchObject({ ok: false, firstBadSeq: 3, problem: expect.stringMatching(/edited/) });
    expect(verifyRows(rows.filter((row) => row.seq !== 2))).toMatchObject({ ok: false, firstBadSeq: 3, problem: expect.stringMatching(/missing or were moved/) });
    expect(verifyRows(rows.slice(0, 4), { seq: 5, hash: rows[4]!.hash })).toMatchObject({ ok: false, firstBadSeq: 5, problem: expect.stringMatching(/cut off the end/) });
  });
});
