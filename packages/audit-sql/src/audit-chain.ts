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
  /** Seq of the last row checked (0 for an empty chain): the anchor is `headSeq:headHash`. */
  headSeq?: number;
  /** A `proposals` or `executions` row that differs from its chained entries (the chain itself is intact). */
  mismatch?: { table: 'proposals' | 'executions'; rowId: string; field: string; problem: string };
}

/** A head kept off the box (`<seq>:<hash>`, as `audit verify` prints it), checked against the chain. */
export interface ChainAnchor {
  seq: number;
  hash: string;
}

/** Reads `<seq>:<hash>`; undefined when it is not one. */
export function parseChainAnchor(text: string): ChainAnchor | undefined {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  return match ? { seq: Number(match[1]), hash: match[2]! } : undefined;
}

/**
 * Checks rows one at a time, in seq order, so a long chain can be read page by page. `add`
 * answers the first problem found (and nothing after it); `finish` compares the end with the head.
 */
export class ChainVerifier {
  #expectedPrevious = GENESIS_HASH;
  #expectedSeq: number | undefined;
  #count = 0;
  #anchorSeen = false;

  /** `anchor`: a head kept elsewhere earlier; the chain must still hold that row, unchanged. */
  constructor(private readonly anchor?: ChainAnchor) {}

  add(row: StoredChainRow): AuditChainReport | undefined {
    this.#count += 1;
    const count = this.#count;
    const headHash = this.#expectedPrevious;
    if (this.#expectedSeq !== undefined && row.seq !== this.#expectedSeq) {
      return { ok: false, rows: count, firstBadSeq: row.seq, problem: `seq ${row.seq} follows ${this.#expectedSeq - 1}: rows are missing or were moved`, headHash };
    }
    if (row.prevHash !== this.#expectedPrevious) {
      return { ok: false, rows: count, firstBadSeq: row.seq, problem: `row ${row.seq} does not link to the row before it (prev_hash differs): a row was deleted, inserted or reordered`, headHash };
    }
    if (chainHash(row.prevHash, row) !== row.hash) {
      return { ok: false, rows: count, firstBadSeq: row.seq, problem: `row ${row.seq} does not hash to its stored hash: it was edited`, headHash };
    }
    if (this.anchor !== undefined && row.seq === this.anchor.seq) {
      if (row.hash !== this.anchor.hash) {
        return { ok: false, rows: count, firstBadSeq: row.seq, problem: `row ${row.seq} is not the one anchored earlier (hash ${this.anchor.hash.slice(0, 16)}...): the chain was rebuilt`, headHash };
      }
      this.#anchorSeen = true;
    }
    this.#expectedPrevious = row.hash;
    this.#expectedSeq = row.seq + 1;
    return undefined;
  }

  /** `head`: the store's head row; `null` when it is missing (it exists from the first write on and is never deleted). */
  finish(head?: { seq: number; hash: string } | null): AuditChainReport {
    const count = this.#count;
    const lastSeq = this.#expectedSeq === undefined ? 0 : this.#expectedSeq - 1;
    if (head === null) {
      return {
        ok: false,
        rows: count,
        firstBadSeq: lastSeq,
        problem: 'the audit_head row is missing (it is created with the database and never deleted): the trail was wiped or replaced',
        headHash: this.#expectedPrevious,
        headSeq: lastSeq,
      };
    }
    if (this.anchor !== undefined && this.anchor.seq > 0 && !this.#anchorSeen) {
      return {
        ok: false,
        rows: count,
        firstBadSeq: this.anchor.seq,
        problem: `the anchored head (seq ${this.anchor.seq}) is no longer in the chain, which ends at seq ${lastSeq}: rows were deleted`,
        headHash: this.#expectedPrevious,
        headSeq: lastSeq,
      };
    }
    if (head !== undefined) {
      if (head.seq !== lastSeq || head.hash !== (count === 0 ? head.hash : this.#expectedPrevious)) {
        return {
          ok: false,
          rows: count,
          firstBadSeq: head.seq,
          problem: `the chain ends at seq ${lastSeq} but its head says ${head.seq}: rows were cut off the end or the head was edited`,
          headHash: this.#expectedPrevious,
        };
      }
    }
    return { ok: true, rows: count, headHash: this.#expectedPrevious, headSeq: lastSeq };
  }
}

/**
 * Walks the rows in seq order. Detects an edited row (its hash no longer matches), a deleted row
 * (a gap in seq, or a `prev_hash` that points at a row that is gone), reordered rows (seq is
 * hashed, so a row moved elsewhere no longer matches), and rows cut off the end (the head row
 * says there were more). Someone who can write the database can still rebuild the whole chain:
 * keep `headHash` elsewhere to catch that.
 */
export function verifyRows(rows: Iterable<StoredChainRow>, head?: { seq: number; hash: string } | null, anchor?: ChainAnchor): AuditChainReport {
  const verifier = new ChainVerifier(anchor);
  for (const row of rows) {
    const problem = verifier.add(row);
    if (problem !== undefined) return problem;
  }
  return verifier.finish(head);
}
