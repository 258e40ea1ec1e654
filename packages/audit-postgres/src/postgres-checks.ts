import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';
import type { AuditDatabase } from '@fish-sre/audit-sql';
import { sql, type Kysely } from 'kysely';
import { SCOPE } from './postgres-errors.js';

/** The oldest server the store is tested against is 15; 12 has everything the queries use. */
const MINIMUM_SERVER_VERSION = 120000;

/** The rights each table needs beyond SELECT and INSERT, which every table needs. */
const TABLE_RIGHTS: Record<keyof AuditDatabase, readonly string[]> = {
  incidents: [],
  proposals: ['UPDATE'],
  decisions: [],
  executions: ['UPDATE'],
  notifications: [],
  llm_usage: ['UPDATE'],
  audit_log: [],
  audit_head: ['UPDATE'],
  host_locks: ['UPDATE', 'DELETE'],
  incident_claims: ['UPDATE'],
  outbox: ['UPDATE'],
  absence_streams: ['UPDATE', 'DELETE'],
};

export async function checkServerVersion(kysely: Kysely<AuditDatabase>, location: string): Promise<void> {
  const { rows } = await sql<{ server_version_num: string }>`show server_version_num`.execute(kysely);
  const version = Number(rows[0]?.server_version_num ?? 0);
  if (version < MINIMUM_SERVER_VERSION) {
    throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage(SCOPE, `${location} runs PostgreSQL ${version}; fish needs 12 or newer`) });
  }
}

/**
 * Checks, once at start, that the role can do everything the loop will ask of it: a missing
 * UPDATE right would otherwise surface at the first approval, hours later.
 */
export async function checkTableRights(kysely: Kysely<AuditDatabase>, user: string, location: string): Promise<void> {
  const names = Object.keys(TABLE_RIGHTS);
  const { rows } = await sql<{ name: string; rights: string[] }>`
    select c.relname as name,
           array_remove(array[
             case when has_table_privilege(c.oid, 'SELECT') then 'SELECT' end,
             case when has_table_privilege(c.oid, 'INSERT') then 'INSERT' end,
             case when has_table_privilege(c.oid, 'UPDATE') then 'UPDATE' end,
             case when has_table_privilege(c.oid, 'DELETE') then 'DELETE' end
           ], null) as rights
    from pg_class c
    where c.relkind = 'r' and c.relname = any(${names}) and pg_table_is_visible(c.oid)`.execute(kysely);
  const found = new Map(rows.map((row) => [row.name, new Set(row.rights)]));
  const missing: string[] = [];
  for (const [table, extra] of Object.entries(TABLE_RIGHTS)) {
    const rights = found.get(table);
    const wanted = ['SELECT', 'INSERT', ...extra].filter((right) => !rights?.has(right));
    if (wanted.length > 0) missing.push(`${wanted.join(', ')} on ${table}`);
  }
  if (missing.length > 0) {
    throw new FishError({
      code: FishErrorCode.AUDIT_PERMISSION_DENIED,
      message: errorMessage(SCOPE, `role "${user}" lacks rights fish needs on ${location}: ${missing.join('; ')}. Grant them (see "Database rights" in the audit-postgres README).`),
      details: { missing },
    });
  }
}
