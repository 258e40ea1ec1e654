import { sql, type Kysely } from 'kysely';
import { ChainVerifier, type AuditChainReport, type ChainAnchor } from './audit-chain.js';
import type { AuditDatabase } from './schema.js';

/**
 * Walks the `audit_log` chain through kysely, a page at a time, inside one read transaction
 * opened by `begin` (a consistent snapshot whatever writers do meanwhile: PostgreSQL
 * `begin isolation level repeatable read read only`, SQLite `begin` under WAL).
 */
export async function verifyStoreChain(kysely: Kysely<AuditDatabase>, begin: string, pageSize = 2000, anchor?: ChainAnchor): Promise<AuditChainReport> {
  return kysely.connection().execute(async (connection) => {
    await sql.raw(begin).execute(connection);
    try {
      const verifier = new ChainVerifier(anchor);
      let after = 0;
      for (;;) {
        const rows = await connection.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq', 'asc').limit(pageSize).execute();
        for (const row of rows) {
          const problem = verifier.add({
            seq: Number(row.seq),
            at: row.at,
            entity: row.entity,
            entityId: row.entity_id,
            action: row.action,
            dataJson: row.data_json,
            prevHash: row.prev_hash,
            hash: row.hash,
          });
          if (problem !== undefined) return problem;
        }
        if (rows.length < pageSize) break;
        after = Number(rows.at(-1)!.seq);
      }
      const head = await connection.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
      return verifier.finish(head === undefined ? null : { seq: Number(head.seq), hash: head.hash });
    } finally {
      await sql
        .raw('commit')
        .execute(connection)
        .catch(() => undefined);
    }
  });
}
