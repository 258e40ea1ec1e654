import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';
import { sql, type Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import { MIGRATIONS, migrationProvider } from './migrations.js';
import type { AuditDatabase } from './schema.js';
import type { SqlAuditDialect } from './sql-dialect.js';

/**
 * Brings the schema to this version's latest migration. A database migrated by a newer fish
 * (a migration this version does not know) is refused before anything is written: running old
 * queries against a newer schema could corrupt what the newer fish relies on.
 */
export async function migrateToLatest(kysely: Kysely<AuditDatabase>, dialect: SqlAuditDialect): Promise<void> {
  const tables = await kysely.introspection.getTables({ withInternalKyselyTables: true });
  if (tables.some((table) => table.name === 'kysely_migration')) {
    const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(kysely);
    const unknown = applied.rows
      .map((row) => row.name)
      .filter((name) => !(name in MIGRATIONS))
      .sort();
    if (unknown.length > 0) {
      const known = Object.keys(MIGRATIONS).sort().at(-1);
      throw new FishError({
        code: FishErrorCode.AUDIT_SCHEMA_NEWER,
        message: errorMessage(
          dialect.scope,
          `the audit database ${dialect.location} was migrated by a newer fish (migration ${unknown.join(', ')}; this version knows up to ${known}). Upgrade fish on this instance, or point it at another database.`,
        ),
        details: { unknownMigrations: unknown, latestKnown: known },
      });
    }
  }
  const migrator = new Migrator({ db: kysely, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    throw dialect.toFishError(failed ? `migration ${failed} failed on ${dialect.location}` : `the migrations could not start on ${dialect.location}`, error);
  }
}
