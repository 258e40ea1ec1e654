import { readFileSync } from 'node:fs';
import { FishError, FishErrorCode, errorMessage, type Clock, type Logger } from '@fish-sre/core';
import { createSqlAuditStore, verifyStoreChain, type AuditChainReport, type AuditDatabase, type ChainAnchor, type SqlAuditStore } from '@fish-sre/audit-sql';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { z } from 'zod';
import { checkServerVersion, checkTableRights } from './postgres-checks.js';
import { SCOPE, isTransactionRetryable, isUniqueViolation, toFishError } from './postgres-errors.js';

export const PostgresAuditStoreOptionsSchema = z
  .object({
    /** `postgres://user:password@host:5432/database` (use `${FISH_DATABASE_URL}` in a config file). */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'a PostgreSQL URL starts with postgres:// or postgresql://'),
    /** Connections in the pool. @default 10 */
    poolSize: z.number().int().min(2).max(100).default(10),
    /** Any statement running longer is cancelled by the server (a stuck lock never hangs the loop). @default 10000 */
    statementTimeoutMs: z.number().int().positive().default(10_000),
    /** How long to wait for a new connection. @default 5000 */
    connectTimeoutMs: z.number().int().positive().default(5_000),
    /** TLS to the server. Omit for none (or let the URL's `sslmode` decide). */
    tls: z
      .object({
        /** PEM file of the CA that signed the server certificate (else the system's CAs). */
        caFile: z.string().min(1).optional(),
        /** Client certificate and key (PEM files), when the server asks for one. */
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /** Check the server certificate and name. Turn off only for a test server. @default true */
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict()
      .optional(),
    /** Shown in `pg_stat_activity`. @default 'fish-sre' */
    applicationName: z.string().min(1).max(63).default('fish-sre'),
  })
  .strict();

export type PostgresAuditStoreOptions = z.input<typeof PostgresAuditStoreOptionsSchema> & {
  /** Time for the few rows whose call carries no timestamp. @default systemClock */
  clock?: Clock;
  /** Where idle-connection errors are reported (a restarting server). */
  logger?: Logger;
};

/** The AuditStore plus what only this implementation offers. */
export interface PostgresAuditStore extends SqlAuditStore {
  /** The server and database, without the password. */
  readonly location: string;
  /** Walks the hash chain of `audit_log` in one repeatable-read snapshot. */
  verifyChain(anchor?: ChainAnchor): Promise<AuditChainReport>;
}

/** The URL as messages may show it: no password, no query string (it may carry one). */
export function describeDatabaseUrl(url: string): { user: string; location: string } {
  try {
    const parsed = new URL(url);
    return { user: decodeURIComponent(parsed.username) || 'postgres', location: `postgres://${parsed.host}${parsed.pathname}` };
  } catch {
    throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage(SCOPE, 'the database URL is not a valid URL (postgres://user:password@host:5432/database)') });
  }
}

function readPem(path: string | undefined, what: string): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage(SCOPE, `cannot read the TLS ${what} ${path}: ${(error as Error).message}`), cause: error });
  }
}

/**
 * The AuditStore on PostgreSQL: the shared SQL store of `@fish-sre/audit-sql` on kysely's
 * PostgresDialect over a `pg` pool. Every write transaction first locks the `audit_head` row
 * (SELECT ... FOR UPDATE), which serialises writers across every instance: the compare-and-set
 * checks, budget sums, host locks and incident claims read what the previous writer committed,
 * and the hash chain gets one head. `shared` is true: core takes host locks in the store.
 */
export function createPostgresAuditStore(input: PostgresAuditStoreOptions): PostgresAuditStore {
  const { clock, logger, ...settings } = input;
  const options = PostgresAuditStoreOptionsSchema.parse(settings);
  const where = describeDatabaseUrl(options.url);
  const createKysely = () => {
    const ssl = options.tls
      ? { rejectUnauthorized: options.tls.rejectUnauthorized, ca: readPem(options.tls.caFile, 'CA file'), cert: readPem(options.tls.certFile, 'certificate'), key: readPem(options.tls.keyFile, 'key') }
      : undefined;
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      statement_timeout: options.statementTimeoutMs,
      connectionTimeoutMillis: options.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: options.applicationName,
      keepAlive: true,
      ...(ssl ? { ssl } : {}),
    });
    // A connection the server ends (restart, failover) emits 'error': on the pool when it is
    // idle, on the client while a transaction holds it between two queries. Unheard, either
    // would end the process; heard, the pool drops the connection and opens a new one on
    // demand, and the query that was running fails as AUDIT_UNREACHABLE (retryable).
    const report = (error: Error) => logger?.warn(toFishError('a database connection failed', error, where).message);
    pool.on('error', report);
    pool.on('connect', (client) => client.on('error', report));
    return new Kysely<AuditDatabase>({ dialect: new PostgresDialect({ pool }) });
  };
  const store = createSqlAuditStore({
    ...(clock ? { clock } : {}),
    dialect: {
      name: 'postgres',
      scope: SCOPE,
      location: where.location,
      shared: true,
      createKysely,
      // READ COMMITTED plus the head row lock: each statement after the lock sees every commit
      // made before it, and no two writers run their checks at once.
      beginWrite: ['begin', 'select seq from audit_head where id = 1 for update'],
      checkConnection: (kysely) => checkServerVersion(kysely, where.location),
      checkSchema: (kysely) => checkTableRights(kysely, where.user, where.location),
      toFishError: (what, error) => toFishError(what, error, where),
      isUniqueViolation,
      isTransactionRetryable,
    },
  });
  return Object.assign(store, {
    location: where.location,
    async verifyChain(anchor?: ChainAnchor) {
      return verifyStoreChain(await store.database(), 'begin isolation level repeatable read read only', 2000, anchor);
    },
  });
}
