import { FishError, FishErrorCode, errorMessage, redactSecrets, type Clock } from '@fish-sre/core';
import {
  RowCrossCheck,
  createSqlAuditStore,
  mismatchReport,
  verifyRows,
  type AuditChainReport,
  type ChainAnchor,
  type AuditDatabase,
  type SqlAuditStore,
  type StoredChainRow,
} from '@fish-sre/audit-sql';
import { Kysely } from 'kysely';
import { z } from 'zod';
import type Database from 'better-sqlite3';
import { SQLITE_BEGIN, isUniqueViolation, openSqlite } from './sqlite-setup.js';
import { WorkerSqliteDialect, type WorkerRestartPolicy } from './worker-dialect.js';

/** Options of the SQLite audit store, as written in a config file. */
export const SqliteAuditStoreOptionsSchema = z.strictObject({
  /**
   * The database file (created when missing). `:memory:` works for throwaway use. In a config file
   * a relative path is taken inside the plugin's data folder. @default 'audit.sqlite'
   */
  path: z.string().min(1).default('audit.sqlite'),
  /** How long a writer waits for another process's lock. @default 5000 */
  busyTimeoutMs: z.number().int().nonnegative().optional(),
  /** `FULL` fsyncs each commit, so an approval recorded before a remote call survives a power cut. @default 'FULL' */
  synchronous: z.enum(['FULL', 'NORMAL']).optional(),
  /** A worker thread that dies is restarted (backoff from 100 ms, doubling) at most this many times in a row. @default 5 */
  maxWorkerRestarts: z.number().int().nonnegative().optional(),
});

/** Options of `createSqliteAuditStore`: the config plus the injectable clock. */
export type SqliteAuditStoreOptions = z.input<typeof SqliteAuditStoreOptionsSchema> & {
  /** Time for the few rows whose call carries no timestamp (`setProposalNotification`). @default systemClock */
  clock?: Clock;
  /** Called with every SQLite worker thread started (the first and each restart). */
  onWorker?: WorkerRestartPolicy['onWorker'];
};

/** The AuditStore plus what only this implementation offers. */
export interface SqliteAuditStore extends SqlAuditStore {
  readonly path: string;
  /** SQLite worker threads restarted after dying since the store opened. */
  readonly workerRestarts: number;
  /** Walks the hash chain of `audit_log`; see {@link verifyAuditChain}. `anchor`: a head kept elsewhere earlier. */
  verifyChain(anchor?: ChainAnchor): Promise<AuditChainReport>;
}

const SCOPE = 'audit-sqlite';

/**
 * SQLite codes of a store that cannot record now but may again without a fish restart: a lock
 * held elsewhere, a worker thread being restarted, a full disk, an I/O error, a file made
 * read-only. The engine holds what it could not record and says so once.
 */
const OUTAGE_CODES = /^(SQLITE_BUSY|SQLITE_LOCKED|SQLITE_FULL|SQLITE_IOERR|SQLITE_READONLY|SQLITE_CANTOPEN|SQLITE_PERM|SQLITE_WORKER_EXITED)/;

function auditFailed(what: string, error: unknown): FishError {
  if (FishError.isInstance(error)) return error;
  const code = (error as { code?: string } | null)?.code ?? '';
  return new FishError({
    code: code === 'SQLITE_WORKER_GONE' ? FishErrorCode.AUDIT_UNREACHABLE : FishErrorCode.AUDIT_FAILED,
    message: errorMessage(SCOPE, `${what}: ${redactSecrets((error as Error)?.message ?? String(error))}`),
    cause: error,
    isRetryable: OUTAGE_CODES.test(code),
    ...(code ? { details: { sqliteCode: code } } : {}),
  });
}

/**
 * The AuditStore in one SQLite file: the shared SQL store of `@fish-sre/audit-sql` on a kysely
 * dialect whose better-sqlite3 connection lives in a worker thread. One file is one machine's:
 * `shared` is false, so core keeps its host locks in memory.
 */
export function createSqliteAuditStore(settings: SqliteAuditStoreOptions): SqliteAuditStore {
  const options = { ...settings, path: settings.path ?? 'audit.sqlite' };
  let dialectInUse: WorkerSqliteDialect | undefined;
  const store = createSqlAuditStore({
    ...(options.clock ? { clock: options.clock } : {}),
    dialect: {
      name: 'sqlite',
      scope: SCOPE,
      location: options.path,
      shared: false,
      // better-sqlite3 runs in a worker thread (see worker-dialect.ts): its fsyncs and WAL
      // checkpoints block that thread, never the event loop of the process.
      createKysely: () => {
        dialectInUse = new WorkerSqliteDialect(
          { path: options.path, busyTimeoutMs: options.busyTimeoutMs ?? 5000, synchronous: options.synchronous ?? 'FULL' },
          { ...(options.maxWorkerRestarts !== undefined ? { maxRestarts: options.maxWorkerRestarts } : {}), ...(options.onWorker ? { onWorker: options.onWorker } : {}) },
        );
        return new Kysely<AuditDatabase>({ dialect: dialectInUse });
      },
      // BEGIN IMMEDIATE on the single connection, which the driver hands to one caller at a time:
      // concurrent calls in this process queue up, other processes wait on busy_timeout.
      beginWrite: [SQLITE_BEGIN],
      toFishError: auditFailed,
      isUniqueViolation,
    },
  });
  // A getter: Object.assign would copy its value once.
  Object.defineProperty(store, 'workerRestarts', { get: () => dialectInUse?.workerRestarts ?? 0, enumerable: true });
  return Object.assign(store as typeof store & { readonly workerRestarts: number }, {
    path: options.path,
    async verifyChain(anchor?: ChainAnchor) {
      await store.database();
      return verifyAuditChain(options.path, anchor);
    },
  });
}

function verifyDatabase(database: Database.Database, anchor?: ChainAnchor): AuditChainReport {
  const rows = database.prepare('select seq, at, entity, entity_id, action, data_json, prev_hash, hash from audit_log order by seq asc').iterate() as IterableIterator<AuditDatabase['audit_log']>;
  const rowCheck = new RowCrossCheck();
  function* mapped(): Generator<StoredChainRow> {
    for (const row of rows) {
      const chained = { seq: Number(row.seq), at: row.at, entity: row.entity, entityId: row.entity_id, action: row.action, dataJson: row.data_json, prevHash: row.prev_hash, hash: row.hash };
      rowCheck.add(chained);
      yield chained;
    }
  }
  const head = database.prepare('select seq, hash from audit_head where id = 1').get() as { seq: number; hash: string } | undefined;
  const report = verifyRows(mapped(), head === undefined ? null : { seq: Number(head.seq), hash: head.hash }, anchor);
  if (!report.ok) return report;
  // The chain is intact: the rows fish acts on must hold what their chained entries recorded.
  for (const row of database.prepare('select * from proposals order by id').iterate() as IterableIterator<AuditDatabase['proposals']>) {
    const mismatch = rowCheck.checkProposal(row);
    if (mismatch !== undefined) return mismatchReport(mismatch, report);
  }
  for (const row of database.prepare('select * from executions order by id').iterate() as IterableIterator<AuditDatabase['executions']>) {
    const mismatch = rowCheck.checkExecution(row);
    if (mismatch !== undefined) return mismatchReport(mismatch, report);
  }
  const missing = rowCheck.unseen();
  return missing === undefined ? report : mismatchReport(missing, report);
}

/**
 * Checks the audit_log hash chain of a store, or of a database file (opened read-only).
 * `{ ok: false, firstBadSeq, problem }` names the first row that was edited, deleted or moved.
 */
export async function verifyAuditChain(target: SqliteAuditStore | string, anchor?: ChainAnchor): Promise<AuditChainReport> {
  if (typeof target !== 'string') return target.verifyChain(anchor);
  const database = openSqlite({ path: target, busyTimeoutMs: 5000, synchronous: 'FULL', readonly: true });
  try {
    // One read transaction: a consistent snapshot, whatever writers do meanwhile (WAL).
    database.exec('begin');
    try {
      return verifyDatabase(database, anchor);
    } finally {
      database.exec('commit');
    }
  } finally {
    database.close();
  }
}
