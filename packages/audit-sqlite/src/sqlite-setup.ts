import Database from 'better-sqlite3';
import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';

/** Everything SQLite-specific lives here; the queries in the store are portable kysely. */
export interface SqliteSetupOptions {
  path: string;
  /** @default 5000 */
  busyTimeoutMs: number;
  /** `FULL` fsyncs every commit (an approval survives a power cut); `NORMAL` is faster. @default 'FULL' */
  synchronous: 'FULL' | 'NORMAL';
  readonly?: boolean;
}

export function openSqlite(options: SqliteSetupOptions): Database.Database {
  let database: Database.Database;
  try {
    database = new Database(options.path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (error) {
    throw new FishError({
      code: FishErrorCode.AUDIT_FAILED,
      message: errorMessage('audit-sqlite', `cannot open the audit database ${options.path}: ${(error as Error).message}`),
      cause: error,
    });
  }
  try {
    database.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs))}`);
    database.pragma('foreign_keys = ON');
    if (!options.readonly) {
      const mode = database.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal' && options.path !== ':memory:') {
        throw new Error(`journal_mode is ${String(mode)}, not wal`);
      }
      database.pragma(`synchronous = ${options.synchronous}`);
    }
    // Verify rather than trust: a build without foreign keys would silently accept orphans.
    const foreignKeys = database.pragma('foreign_keys', { simple: true });
    if (foreignKeys !== 1) throw new Error(`PRAGMA foreign_keys is ${String(foreignKeys)} after setting it ON`);
  } catch (error) {
    database.close();
    throw new FishError({
      code: FishErrorCode.AUDIT_FAILED,
      message: errorMessage('audit-sqlite', `cannot set up the audit database ${options.path}: ${(error as Error).message}`),
      cause: error,
    });
  }
  return database;
}

/** SQLite takes the write lock at BEGIN IMMEDIATE, so two writers never deadlock on upgrade. */
export const SQLITE_BEGIN = 'begin immediate';

/** True for a UNIQUE / PRIMARY KEY violation, in SQLite's or PostgreSQL's words. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
