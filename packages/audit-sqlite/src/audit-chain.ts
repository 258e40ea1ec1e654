import { createHash } from 'node:crypto';

/** The `prev_hash` of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every depth: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** The hashed part of an audit row. `seq` is inside, so moving a row to another place breaks it. */
export interface ChainedRow {
  seq: number;
  at: string;
  entity: string;
  entityId: string;
  action: string;
  /** The row's data exactly as stored (canonical JSON text). */
  dataJson: string;
}

/** `hash = sha256(prev_hash || canonical JSON of the row)`, hex. */
export function chainHash(previousHash: string, row: ChainedRow): string {
  const canonical = canonicalJson({ seq: row.seq, at: row.at, entity: row.entity, entityId: row.entityId, action: row.action, data: row.dataJson });
  return createHash('sha256').update(previousHash, 'utf8').update(canonical, 'utf8').digest('hex');
}

export interface StoredChainRow extends ChainedRow {
  prevHash: string;
  hash: string;
}

export interface AuditChainReport {
  /** True when every row links to the one before and hashes to what it says. */
  ok: boolean;
  /** Rows checked. */
  rows: number;
  /** Seq of the first row that does not fit (or, for a cut-off end, the head's seq). */
  firstBadSeq?: number;
  /** What was wrong, in words. */
  problem?: string;
  /** Hash of the last row: write it somewhere else (a log, a notification) to anchor the chain. */
  headHash: string;
}

/**
 * Walks the rows in seq order. Detects an edited row (its hash no longer matches), a deleted row
 * (a gap in seq, or a `prev_hash` that points at a row that is gone), reordered rows (seq is
 * hashed, so a row moved elsewhere no longer matches), and rows cut off the end (the head row
 * says there were more). Someone who can write the file can still rebuild the whole chain: keep
 * `headHash` elsewhere to catch that.
 */
export function verifyRows(rows: Iterable<StoredChainRow>, head?: { seq: number; hash: string }): AuditChainReport {
  let expectedPrevious = GENESIS_HASH;
  let expectedSeq: number | undefined;
  let count = 0;
  for (const row of rows) {
    count += 1;
    if (expectedSeq !== undefined && row.seq !== expectedSeq) {
      return { ok: false, rows: count, firstBadSeq: row.seq, problem: `seq ${row.seq} follows ${expectedSeq - 1}: rows are missing or were moved`, headHash: expectedPrevious };
    }
    if (row.prevHash !== expectedPrevious) {
      return { ok: false, rows: count, firstBadSeq: row.seq, problem: `row ${row.seq} does not link to the row before it (prev_hash differs): a row was deleted, inserted or reordered`, headHash: expectedPrevious };
    }
    const recomputed = chainHash(row.prevHash, row);
    if (recomputed !== row.hash) {
      return { ok: false, rows: count, firstBadSeq: row.seq, problem: `row ${row.seq} does not hash to its stored hash: it was edited`, headHash: expectedPrevious };
    }
    expectedPrevious = row.hash;
    expectedSeq = row.seq + 1;
  }
  if (head !== undefined) {
    const lastSeq = expectedSeq === undefined ? 0 : expectedSeq - 1;
    if (head.seq !== lastSeq || head.hash !== (count === 0 ? head.hash : expectedPrevious)) {
      return { ok: false, rows: count, firstBadSeq: head.seq, problem: `the chain ends at seq ${lastSeq} but its head says ${head.seq}: rows were cut off the end or the head was edited`, headHash: expectedPrevious };
    }
  }
  return { ok: true, rows: count, headHash: expectedPrevious };
}
