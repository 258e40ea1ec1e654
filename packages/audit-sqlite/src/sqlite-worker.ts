// The thread that owns the better-sqlite3 connection. better-sqlite3 is synchronous: a commit
// that fsyncs or a WAL checkpoint would stop the event loop for milliseconds to hundreds of
// milliseconds. Here it only stops this thread. Self-contained on purpose (no relative imports),
// so Node can run it from the TypeScript source in tests and from dist in production.
import Database from 'better-sqlite3';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

export interface SqliteSetup {
  path: string;
  busyTimeoutMs: number;
  synchronous: 'FULL' | 'NORMAL';
  readonly?: boolean;
}

/** Opens the file and applies the SQLite-only settings; verifies them rather than trusting them. */
export function openSqliteDatabase(setup: SqliteSetup): Database.Database {
  const database = new Database(setup.path, { readonly: setup.readonly ?? false, fileMustExist: setup.readonly ?? false });
  try {
    database.pragma(`busy_timeout = ${Math.max(0, Math.floor(setup.busyTimeoutMs))}`);
    database.pragma('foreign_keys = ON');
    if (!setup.readonly) {
      const mode = database.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal' && setup.path !== ':memory:') throw new Error(`journal_mode is ${String(mode)}, not wal`);
      database.pragma(`synchronous = ${setup.synchronous}`);
    }
    const foreignKeys = database.pragma('foreign_keys', { simple: true });
    if (foreignKeys !== 1) throw new Error(`PRAGMA foreign_keys is ${String(foreignKeys)} after setting it ON`);
  } catch (error) {
    database.close();
    throw error;
  }
  return database;
}

export interface WorkerRequest {
  id: number;
  sql?: string;
  parameters?: readonly unknown[];
  close?: boolean;
}

export interface WorkerResponse {
  id: number;
  rows?: unknown[];
  changes?: number;
  lastInsertRowid?: number | bigint;
  error?: { message: string; code?: string };
}

function serve(setup: SqliteSetup): void {
  const port = parentPort;
  if (port === null) return;
  let database: Database.Database;
  try {
    database = openSqliteDatabase(setup);
  } catch (error) {
    port.postMessage({ ready: false, error: { message: (error as Error).message, code: (error as { code?: string }).code } });
    return;
  }
  // Prepared statements are reused: kysely compiles the same few shapes over and over.
  const statements = new Map<string, Database.Statement>();
  port.on('message', (request: WorkerRequest) => {
    if (request.close === true) {
      database.close();
      port.postMessage({ id: request.id, rows: [] } satisfies WorkerResponse);
      return;
    }
    try {
      const sql = request.sql ?? '';
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = database.prepare(sql);
        if (statements.size < 500) statements.set(sql, statement);
      }
      const parameters = (request.parameters ?? []) as unknown[];
      if (statement.reader) {
        port.postMessage({ id: request.id, rows: statement.all(...parameters) } satisfies WorkerResponse);
      } else {
        const result = statement.run(...parameters);
        port.postMessage({ id: request.id, rows: [], changes: result.changes, lastInsertRowid: result.lastInsertRowid } satisfies WorkerResponse);
      }
    } catch (error) {
      port.postMessage({ id: request.id, error: { message: (error as Error).message, code: (error as { code?: string }).code } } satisfies WorkerResponse);
    }
  });
  port.postMessage({ ready: true });
}

if (!isMainThread && (workerData as { fishAuditWorker?: boolean } | null)?.fishAuditWorker === true) {
  serve((workerData as { setup: SqliteSetup }).setup);
}
