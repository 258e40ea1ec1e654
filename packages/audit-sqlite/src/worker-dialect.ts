import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';
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

class WorkerConnection implements DatabaseConnection {
  constructor(private readonly send: (request: Omit<WorkerRequest, 'id'>) => Promise<WorkerResponse>) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const response = await this.send({ sql: compiledQuery.sql, parameters: compiledQuery.parameters });
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

class WorkerSqliteDriver implements Driver {
  #worker: Worker | undefined;
  #connection: WorkerConnection | undefined;
  #pending = new Map<number, { resolve: (response: WorkerResponse) => void; reject: (error: Error) => void }>();
  #nextId = 1;
  #mutex = new Mutex();
  #failure: Error | undefined;

  constructor(private readonly setup: SqliteSetup) {}

  async init(): Promise<void> {
    const worker = new Worker(workerUrl(), { workerData: { fishAuditWorker: true, setup: this.setup } });
    this.#worker = worker;
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
    // The worker holds the process open only while a query is in flight: an idle store whose
    // owner forgot close() does not keep Node alive (every commit is already durable then).
    worker.unref();
    worker.on('message', (response: WorkerResponse) => {
      const waiter = this.#pending.get(response.id);
      if (waiter === undefined) return;
      this.#pending.delete(response.id);
      if (this.#pending.size === 0) worker.unref();
      waiter.resolve(response);
    });
    const fail = (error: Error) => {
      this.#failure = error;
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SQLite worker exited (code ${code})`)));
    this.#connection = new WorkerConnection((request) => this.#send(request));
  }

  #send(request: Omit<WorkerRequest, 'id'>): Promise<WorkerResponse> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker?.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker?.postMessage({ ...request, id } satisfies WorkerRequest);
    });
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    return this.#connection as WorkerConnection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
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
  constructor(private readonly setup: SqliteSetup) {}
  createDriver(): Driver {
    return new WorkerSqliteDriver(this.setup);
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
