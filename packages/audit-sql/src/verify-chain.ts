import { sql, type Kysely } from 'kysely';
import { ChainVerifier, type AuditChainReport, type ChainAnchor, type StoredChainRow } from './audit-chain.js';
import { RowCrossCheck, mismatchReport } from './row-check.js';
import type { AuditDatabase } from './schema.js';

/**
 * Walks the `audit_log` chain through kysely, a page at a time, inside one read transaction
 * opened by `begin` (a consistent snapshot whatever writers do meanwhile: PostgreSQL
 * `begin isolation level repeatable read read only`, SQLite `begin` under WAL). When the chain is
 * intact, every `proposals` and `executions` row is compared with what its chained entries
 * recorded (see {@link RowCrossCheck}).
 */
export async function verifyStoreChain(kysely: Kysely<AuditDatabase>, begin: string, pageSize = 2000, anchor?: ChainAnchor): Promise<AuditChainReport> {
  return kysely.connection().execute(async (connection) => {
    await sql.raw(begin).execute(connection);
    try {
      const verifier = new ChainVerifier(anchor);
      const rowCheck = new RowCrossCheck();
      let after = 0;
      for (;;) {
        const rows = await connection.selectFrom('audit_log').selectAll().where('seq', '>', after).orderBy('seq', 'asc').limit(pageSize).execute();
        for (const row of rows) {
          const chained: StoredChainRow = {
            seq: Number(row.seq),
            at: row.at,
            entity: row.entity,
            entityId: row.entity_id,
            action: row.action,
            dataJson: row.data_json,
            prevHash: row.prev_hash,
            hash: row.hash,
          };
          const problem = verifier.add(chained);
          if (problem !== undefined) return problem;
          rowCheck.add(chained);
        }
        if (rows.length < pageSize) break;
        after = Number(rows.at(-1)!.seq);
      }
      const head = await connection.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
      const report = verifier.finish(head === undefined ? null : { seq: Number(head.seq), hash: head.hash });
      if (!report.ok) return report;
      for (let last = ''; ; ) {
        const rows = await connection.selectFrom('proposals').selectAll().where('id', '>', last).orderBy('id', 'asc').limit(pageSize).execute();
        for (const row of rows) {
          const mismatch = rowCheck.checkProposal(row);
          if (mismatch !== undefined) return mismatchReport(mismatch, report);
        }
        if (rows.length < pageSize) break;
        last = rows.at(-1)!.id;
      }
      for (let last = ''; ; ) {
        const rows = await connection.selectFrom('executions').selectAll().where('id', '>', last).orderBy('id', 'asc').limit(pageSize).execute();
        for (const row of rows) {
          const mismatch = rowCheck.checkExecution(row);
          if (mismatch !== undefined) return mismatchReport(mismatch, report);
        }
        if (rows.length < pageSize) break;
        last = rows.at(-1)!.id;
      }
      const missing = rowCheck.unseen();
      return missing === undefined ? report : mismatchReport(missing, report);
    } finally {
      await sql
        .raw('commit')
        .execute(connection)
        .catch(() => undefined);
    }
  });
}
