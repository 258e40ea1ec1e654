import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CompiledQuery, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, type DatabaseConnection, type Dialect, type Driver, type Kysely, type QueryResult } from 'kysely';
import type { SqliteSetup, WorkerRequest, WorkerResponse } from './sqlite-worker.js';

/**
 * The worker script: next to this module in dist, the TypeScript source when run from src, or
 * the package's `./worker` export when an application bundled this module somewhere else.
 */
function workerUrl(): URL {
  for (const name of ['./sqlite-worker.js', './sqlite-worker.ts']) {
    const candidate = new URL(name, import.meta.url);
    if (candidate.protocol === 'file:' && existsSync(fileURLToPath(candidate))) return candidate;
  }
  return new URL(import.meta.resolve('@fish-sre/audit-sqlite/worker'));
}

/** An error from the worker, with SQLite's code kept (`SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_BUSY` ...). */
export class SqliteWorkerError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'SqliteError';
  }
}

/** One queue: kysely hands the single connection to one caller at a time, like its SqliteDriver. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;
  async lock(): Promise<void> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.#release = release;
  }
  unlock(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }
}

/** Why a worker thread ended while calls were in flight (or is gone for good): retryable once it is restarted. */
export const WORKER_EXITED = 'SQLITE_WORKER_EXITED';

/** How the driver restarts a worker thread that died. */
export interface WorkerRestartPolicy {
  /** Restarts allowed in a row (a restart that served a query resets the count). @default 5 */
  maxRestarts?: number;
  /** First backoff delay, doubled at each restart in a row, at most 30 s. @default 100 */
  backoffMs?: number;
  /** Called with every worker thread started (the first and each restart): metrics, and tests that end one. */
  onWorker?: (worker: Worker, restarts: number) => void;
}

class WorkerConnection implements DatabaseConnection {
  constructor(
    private readonly send: (request: Omit<WorkerRequest, 'id'>, generation: number) => Promise<WorkerResponse>,
    /** The worker generation this connection was handed out on: a transaction never spans a restart. */
    private readonly generation: number,
    private readonly current: () => number,
  ) {}

  /** True when the worker this connection began on is gone (its open transaction died with it). */
  get stale(): boolean {
    return this.generation !== this.current();
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const response = await this.send({ sql: compiledQuery.sql, parameters: compiledQuery.parameters }, this.generation);
    if (response.error !== undefined) throw new SqliteWorkerError(response.error.message, response.error.code);
    if (response.changes === undefined) return { rows: (response.rows ?? []) as R[] };
    return {
      rows: (response.rows ?? []) as R[],
      numAffectedRows: BigInt(response.changes),
      insertId: response.lastInsertRowid === undefined ? undefined : BigInt(response.lastInsertRowid),
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported by the audit store driver');
  }
}

/**
 * The driver: one worker thread holding the one connection. A worker that dies (an exception
 * that escapes it, an out-of-memory end, a terminate) fails its in-flight calls with a clear,
 * retryable error and is restarted with backoff, a bounded number of times in a row; a
 * transaction open on it was rolled back by SQLite and cannot continue on the new one.
 */
class WorkerSqliteDriver implements Driver {
  #worker: Worker | undefined;
  #pending = new Map<number, { resolve: (response: WorkerResponse) => void; reject: (error: Error) => void }>();
  #nextId = 1;
  #mutex = new Mutex();
  #failure: Error | undefined;
  #closing = false;
  #generation = 0;
  /** Restarts in a row without a query served in between. */
  #restartsInRow = 0;
  #restarts = 0;
  /** Pending while a restart waits for its backoff and the new worker. */
  #restarting: Promise<void> | undefined;

  constructor(
    private readonly setup: SqliteSetup,
    private readonly policy: WorkerRestartPolicy,
  ) {}

  get restarts(): number {
    return this.#restarts;
  }

  async init(): Promise<void> {
    await this.#start();
  }

  async #start(): Promise<void> {
    const worker = new Worker(workerUrl(), { workerData: { fishAuditWorker: true, setup: this.setup } });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean; error?: { message: string; code?: string } }) => {
        if (message.ready === undefined) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        if (message.ready) resolve();
        else reject(new SqliteWorkerError(message.error?.message ?? 'the SQLite worker could not open the database', message.error?.code));
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    this.#worker = worker;
    this.policy.onWorker?.(worker, this.#restarts);
    // The worker holds the process open only while a query is in flight: an idle store whose
    // owner forgot close() does not keep Node alive (every commit is already durable then).
    worker.unref();
    worker.on('message', (response: WorkerResponse) => {
      const waiter = this.#pending.get(response.id);
      if (waiter === undefined) return;
      this.#pending.delete(response.id);
      if (this.#pending.size === 0) worker.unref();
      this.#restartsInRow = 0;
      waiter.resolve(response);
    });
    let ended = false;
    const died = (reason: string) => {
      if (ended) return;
      ended = true;
      if (this.#worker === worker) this.#worker = undefined;
      // Connections handed out on this worker are stale from now on, before any restart.
      this.#generation++;
      const error = new SqliteWorkerError(`the SQLite worker thread ${reason}; the call in flight was not answered (a transaction it was in was rolled back)`, WORKER_EXITED);
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
      if (!this.#closing) this.#restart(reason);
    };
    worker.on('error', (error) => died(`failed (${error.message})`));
    worker.on('exit', (code) => died(`exited (code ${code})`));
  }

  #restart(reason: string): void {
    const max = this.policy.maxRestarts ?? 5;
    if (this.#restartsInRow >= max) {
      this.#failure = new SqliteWorkerError(
        `the SQLite worker thread ${reason} and was restarted ${max} time(s) in a row without success; the audit store is down until fish restarts`,
        'SQLITE_WORKER_GONE',
      );
      return;
    }
    const delay = Math.min((this.policy.backoffMs ?? 100) * 2 ** this.#restartsInRow, 30_000);
    this.#restartsInRow++;
    this.#restarts++;
    this.#restarting = (async () => {
      await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        if (!this.#closing) await this.#start();
      } catch (error) {
        this.#restarting = undefined;
        this.#restart(`could not be started again (${(error as Error).message})`);
        return;
      }
      this.#restarting = undefined;
    })();
  }

  async #send(request: Omit<WorkerRequest, 'id'>, generation?: number): Promise<WorkerResponse> {
    // The statements before this one ran in a transaction that died with its worker: this one
    // must not run alone (autocommit) on the new worker.
    const stale = () => new SqliteWorkerError('the SQLite worker was restarted during this transaction; it was rolled back and nothing after it ran', WORKER_EXITED);
    if (generation !== undefined && generation !== this.#generation) throw stale();
    // A call made while the worker restarts waits for the new one (bounded by the backoff).
    while (this.#restarting !== undefined && this.#failure === undefined) await this.#restarting;
    if (this.#failure !== undefined) throw this.#failure;
    if (generation !== undefined && generation !== this.#generation) throw stale();
    const worker = this.#worker;
    if (worker === undefined) throw new SqliteWorkerError('the SQLite worker thread is not running', WORKER_EXITED);
    const id = this.#nextId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id } satisfies WorkerRequest);
    });
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    while (this.#restarting !== undefined && this.#failure === undefined) await this.#restarting;
    return new WorkerConnection(
      (request, generation) => this.#send(request, generation),
      this.#generation,
      () => this.#generation,
    );
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // A transaction whose worker died was rolled back with it: nothing to send.
    if ((connection as WorkerConnection).stale) return;
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.#closing = true;
    await this.#restarting?.catch(() => undefined);
    const worker = this.#worker;
    if (worker === undefined) return;
    try {
      if (this.#failure === undefined) await this.#send({ close: true });
    } finally {
      this.#worker = undefined;
      this.#failure ??= new Error('the audit store is closed');
      await worker.terminate();
    }
  }
}

/**
 * kysely's SQLite dialect, with the better-sqlite3 connection in a worker thread so that
 * fsyncs and WAL checkpoints never stall the event loop. Same SQL, same compiler.
 */
export class WorkerSqliteDialect implements Dialect {
  #driver: WorkerSqliteDriver | undefined;
  constructor(
    private readonly setup: SqliteSetup,
    private readonly policy: WorkerRestartPolicy = {},
  ) {}
  createDriver(): Driver {
    this.#driver = new WorkerSqliteDriver(this.setup, this.policy);
    return this.#driver;
  }
  /** Worker threads restarted after dying, since the store opened. */
  get workerRestarts(): number {
    return this.#driver?.restarts ?? 0;
  }
  createQueryCompiler() {
    return new SqliteQueryCompiler();
  }
  createAdapter() {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<any>) {
    return new SqliteIntrospector(db);
  }
}
