import type Database from 'better-sqlite3';
import { openSqliteDatabase } from './sqlite-worker.js';
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
  try {
    return openSqliteDatabase(options);
  } catch (error) {
    throw new FishError({
      code: FishErrorCode.AUDIT_FAILED,
      message: errorMessage('audit-sqlite', `cannot open the audit database ${options.path}: ${(error as Error).message}`),
      cause: error,
    });
  }
}

/** SQLite takes the write lock at BEGIN IMMEDIATE, so two writers never deadlock on upgrade. */
export const SQLITE_BEGIN = 'begin immediate';

/** True for a UNIQUE / PRIMARY KEY violation, in SQLite's or PostgreSQL's words. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
