import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FishError, FishErrorCode, errorMessage, redactSecrets } from '@fish-sre/core';

/**
 * The trail of the bad day: every power verb, approved command, host-key re-pin and login, in an
 * append-only JSON-lines file where each record carries the SHA-256 of the one before it. Editing,
 * removing or reordering a line breaks the chain from that line on, and `breakglass verify-trail`
 * says where. (The file cannot stop root from rewriting it whole; `chattr +a` on the file and a
 * copy of the last hash elsewhere close that gap, see the README.)
 */

export type TrailKind = 'power' | 'command' | 'approval' | 'repin' | 'login' | 'login-refused' | 'logout' | 'selftest';

export interface TrailRecord {
  seq: number;
  at: string;
  kind: TrailKind;
  actor: string;
  data: Record<string, unknown>;
  /** Hash of the previous record (64 zeros for the first). */
  prev: string;
  /** sha256(prev + "\n" + JSON of {seq, at, kind, actor, data}), hex. */
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

export function recordHash(prev: string, body: Pick<TrailRecord, 'seq' | 'at' | 'kind' | 'actor' | 'data'>): string {
  return createHash('sha256')
    .update(`${prev}\n${JSON.stringify({ seq: body.seq, at: body.at, kind: body.kind, actor: body.actor, data: body.data })}`)
    .digest('hex');
}

export interface Trail {
  readonly file: string;
  append(kind: TrailKind, actor: string, data: Record<string, unknown>): Promise<TrailRecord>;
}

/** Opens (or starts) the trail at `file`; appends are serialised so the chain never forks. */
export async function openTrail(file: string, now: () => Date = () => new Date()): Promise<Trail> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const lines = text.split('\n').filter((line) => line.trim().length > 0);
  let last: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH };
  const tail = lines.at(-1);
  if (tail !== undefined) {
    try {
      const parsed = JSON.parse(tail) as TrailRecord;
      last = { seq: parsed.seq, hash: parsed.hash };
    } catch (cause) {
      throw new FishError({
        code: FishErrorCode.CONFIG_INVALID,
        message: errorMessage('breakglass', `the trail ${file} ends with a damaged line (${lines.length}); run \`breakglass verify-trail\` and move the file aside`),
        cause,
      });
    }
  }
  let chain: Promise<unknown> = Promise.resolve();
  return {
    file,
    append(kind, actor, data) {
      const next = chain.then(async () => {
        // Secrets never reach the trail, whatever a caller passes.
        const clean = JSON.parse(redactSecrets(JSON.stringify(data))) as Record<string, unknown>;
        const body = { seq: last.seq + 1, at: now().toISOString(), kind, actor, data: clean };
        const record: TrailRecord = { ...body, prev: last.hash, hash: recordHash(last.hash, body) };
        await appendFile(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
        last = { seq: record.seq, hash: record.hash };
        return record;
      });
      chain = next.catch(() => undefined);
      return next;
    },
  };
}

export interface TrailVerdict {
  ok: boolean;
  records: number;
  lastHash: string;
  /** The first line (1-based) that breaks the chain, and why. */
  problem?: { line: number; reason: string };
}

/** Re-computes every hash of the trail and checks each link and sequence number. */
export function verifyTrailText(text: string): TrailVerdict {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let prev = GENESIS_HASH;
  let count = 0;
  for (const [index, line] of lines.entries()) {
    const where = index + 1;
    let record: TrailRecord;
    try {
      record = JSON.parse(line) as TrailRecord;
    } catch {
      return { ok: false, records: count, lastHash: prev, problem: { line: where, reason: 'not a JSON record' } };
    }
    if (record.seq !== count + 1)
      return { ok: false, records: count, lastHash: prev, problem: { line: where, reason: `sequence ${String(record.seq)} where ${count + 1} was expected (a record was removed or inserted)` } };
    if (record.prev !== prev)
      return { ok: false, records: count, lastHash: prev, problem: { line: where, reason: 'its link to the previous record does not match (a record before it was changed or removed)' } };
    if (recordHash(record.prev, record) !== record.hash)
      return { ok: false, records: count, lastHash: prev, problem: { line: where, reason: 'its content does not match its hash (the record was edited)' } };
    prev = record.hash;
    count += 1;
  }
  return { ok: true, records: count, lastHash: prev };
}

export async function verifyTrailFile(file: string): Promise<TrailVerdict> {
  return verifyTrailText(await readFile(file, 'utf8'));
}
