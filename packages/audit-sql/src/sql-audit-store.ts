import { FishError, FishErrorCode, errorMessage, systemClock, type AuditStore, type Clock } from '@fish-sre/core';
import { sql, type Kysely } from 'kysely';
import { absenceMethods } from './absence-queries.js';
import { Rollback, type Connection, type StoreContext } from './append-audit.js';
import { coordinationMethods } from './coordination-queries.js';
import { executionMethods } from './execution-queries.js';
import { ledgerMethods } from './ledger-queries.js';
import { migrateToLatest } from './migrate.js';
import { outboxMethods } from './outbox-queries.js';
import { incidentAndProposalMethods } from './proposal-queries.js';
import type { AuditDatabase } from './schema.js';
import type { SqlAuditDialect } from './sql-dialect.js';

export interface SqlAuditStoreOptions {
  dialect: SqlAuditDialect;
  /** Time for the few rows whose call carries no timestamp (`setProposalNotification`). @default systemClock */
  clock?: Clock;
  /** How many times a transaction the database aborted as retryable (serialization failure) is run again. @default 5 */
  transactionRetries?: number;
}

/** The AuditStore every SQL store shares, with the handle its own extras need. */
export interface SqlAuditStore extends AuditStore {
  /** Connects, checks and migrates (also done by the first call that needs the database). */
  init(): Promise<void>;
  /** Closes the connections; later calls throw PLUGIN_DISPOSED. */
  close(): Promise<void>;
  /** The open kysely instance (after `init()`), for a store's own extras such as chain verification. */
  database(): Promise<Kysely<AuditDatabase>>;
  /** Every AuditStore coordination member is implemented. */
  renewExecutionLease: NonNullable<AuditStore['renewExecutionLease']>;
  acquireHostLock: NonNullable<AuditStore['acquireHostLock']>;
  releaseHostLock: NonNullable<AuditStore['releaseHostLock']>;
  claimIncident: NonNullable<AuditStore['claimIncident']>;
  /** The absence streams are kept. */
  listAbsenceStreams: NonNullable<AuditStore['listAbsenceStreams']>;
  saveAbsenceStreams: NonNullable<AuditStore['saveAbsenceStreams']>;
}

/**
 * The AuditStore over any kysely dialect. Every state change is one write transaction that holds
 * the store's single write lock (the dialect's `beginWrite`), appends its hash-chained
 * `audit_log` row, and commits before the side effect it authorises.
 */
export function createSqlAuditStore(options: SqlAuditStoreOptions): SqlAuditStore {
  const { dialect } = options;
  const clock = options.clock ?? systemClock;
  let db: Kysely<AuditDatabase> | undefined;
  let initialising: Promise<void> | undefined;
  let closed = false;

  const disposed = () => new FishError({ code: FishErrorCode.PLUGIN_DISPOSED, message: errorMessage(dialect.scope, `the audit store ${dialect.location} is closed`) });

  async function init(): Promise<void> {
    if (closed) throw disposed();
    initialising ??= (async () => {
      const kysely = dialect.createKysely();
      try {
        await sql`select 1`.execute(kysely);
        await dialect.checkConnection?.(kysely);
        await migrateToLatest(kysely, dialect);
        await dialect.checkSchema?.(kysely);
      } catch (error) {
        await kysely.destroy().catch(() => undefined);
        throw FishError.isInstance(error) ? error : dialect.toFishError(`cannot open the audit database ${dialect.location}`, error);
      }
      db = kysely;
    })();
    try {
      await initialising;
    } catch (error) {
      initialising = undefined;
      throw error;
    }
  }

  async function ready(): Promise<Kysely<AuditDatabase>> {
    if (db === undefined || initialising === undefined) await init();
    if (closed) throw disposed();
    return db as Kysely<AuditDatabase>;
  }

  async function transaction<T>(kysely: Kysely<AuditDatabase>, work: (connection: Connection) => Promise<T | Rollback<T>>): Promise<T> {
    return kysely.connection().execute(async (connection) => {
      for (const statement of dialect.beginWrite) {
        try {
          await sql.raw(statement).execute(connection);
        } catch (error) {
          // `begin` went through but the lock did not: end the transaction before handing back the connection.
          if (statement !== dialect.beginWrite[0])
            await sql
              .raw('rollback')
              .execute(connection)
              .catch(() => undefined);
          throw error;
        }
      }
      try {
        const result = await work(connection);
        if (result instanceof Rollback) {
          await sql.raw('rollback').execute(connection);
          return result.value;
        }
        await sql.raw('commit').execute(connection);
        return result;
      } catch (error) {
        try {
          await sql.raw('rollback').execute(connection);
        } catch {
          // Already rolled back by the database (SQLITE_FULL, a broken connection): nothing more to undo.
        }
        throw error;
      }
    });
  }

  const context: StoreContext = {
    scope: dialect.scope,
    isUniqueViolation: (error) => dialect.isUniqueViolation(error),
    now: () => new Date(clock.now()).toISOString(),
    async write(what, work) {
      const kysely = await ready();
      const retries = options.transactionRetries ?? 5;
      for (let attempt = 0; ; attempt++) {
        try {
          return await transaction(kysely, work);
        } catch (error) {
          if (attempt < retries && dialect.isTransactionRetryable?.(error)) continue;
          throw FishError.isInstance(error) ? error : dialect.toFishError(what, error);
        }
      }
    },
    async read(what, work) {
      const kysely = await ready();
      try {
        return await work(kysely);
      } catch (error) {
        throw FishError.isInstance(error) ? error : dialect.toFishError(what, error);
      }
    },
  };

  return {
    specificationVersion: 'v1',
    name: dialect.name,
    shared: dialect.shared,
    init,
    database: ready,
    ...incidentAndProposalMethods(context),
    ...executionMethods(context),
    ...ledgerMethods(context),
    ...coordinationMethods(context),
    ...outboxMethods(context),
    ...absenceMethods(context),
    async close() {
      if (closed) return;
      closed = true;
      if (initialising !== undefined) await initialising.catch(() => undefined);
      await db?.destroy();
      db = undefined;
    },
  };
}
