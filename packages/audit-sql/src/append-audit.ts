import type { AuditEntry } from '@fish-sre/core';
import type { Kysely } from 'kysely';
import { GENESIS_HASH, canonicalJson, chainHash } from './audit-chain.js';
import type { AuditDatabase } from './schema.js';

export type Connection = Kysely<AuditDatabase>;
export type AuditInput = { at: string; entity: AuditEntry['entity']; entityId: string; action: string; data: Record<string, unknown> };

/**
 * Appends one hash-chained row to `audit_log`, inside the caller's write transaction (which holds
 * the store's write lock, so no other writer reads the same head). The head row gives the next
 * seq without scanning, and makes rows cut off the end detectable.
 */
export async function appendAudit(connection: Connection, input: AuditInput): Promise<void> {
  const head = await connection.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  const seq = head === undefined ? 1 : Number(head.seq) + 1;
  const prevHash = head?.hash ?? GENESIS_HASH;
  const dataJson = canonicalJson(input.data);
  const hash = chainHash(prevHash, { seq, at: input.at, entity: input.entity, entityId: input.entityId, action: input.action, dataJson });
  await connection
    .insertInto('audit_log')
    .values({ seq, at: input.at, entity: input.entity, entity_id: input.entityId, action: input.action, data_json: dataJson, prev_hash: prevHash, hash })
    .execute();
  if (head === undefined) await connection.insertInto('audit_head').values({ id: 1, seq, hash }).execute();
  else await connection.updateTable('audit_head').set({ seq, hash }).where('id', '=', 1).execute();
}

/** Returned by a write's work to undo the transaction and still answer `value`. */
export class Rollback<T> {
  constructor(readonly value: T) {}
}

/** What the query groups get from the store: transactions, reads and the dialect's judgement. */
export interface StoreContext {
  readonly scope: string;
  write<T>(what: string, work: (connection: Connection) => Promise<T | Rollback<T>>): Promise<T>;
  read<T>(what: string, work: (connection: Connection) => Promise<T>): Promise<T>;
  isUniqueViolation(error: unknown): boolean;
  /** Time for the few rows whose call carries no timestamp. */
  now(): string;
}
