import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '@fish-sre/core';
import { sampleIncident } from '@fish-sre/testkit';
import { sql } from 'kysely';
import { createSqliteAuditStore, verifyAuditChain } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'fish-audit-worker-'));
let fileCounter = 0;
const nextPath = () => join(root, `audit-${++fileCounter}.sqlite`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A store on a real file whose worker threads the test can end, as a crash of the thread would. */
async function openStore(maxWorkerRestarts?: number) {
  const workers: Worker[] = [];
  const store = createSqliteAuditStore({ path: nextPath(), synchronous: 'NORMAL', onWorker: (worker) => workers.push(worker), ...(maxWorkerRestarts !== undefined ? { maxWorkerRestarts } : {}) });
  await store.init();
  return { store, workers, current: () => workers.at(-1)! };
}

/** A read that keeps the worker busy for a while (a recursive count). */
const SLOW_QUERY = sql<{ n: number }>`with recursive c(x) as (select 1 union all select x + 1 from c where x < 3000000) select count(*) as n from c`;

describe('the SQLite worker thread dies', () => {
  it('fails the call in flight clearly, restarts the worker (counted), and the store goes on with nothing lost', async () => {
    const { store, workers, current } = await openStore();
    try {
      const before = sampleIncident();
      await store.insertIncident(before);
      const inFlight = SLOW_QUERY.execute(await store.database()).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      await current().terminate();
      const error = await inFlight;
      expect(error?.message).toMatch(/the SQLite worker thread exited \(code 1\); the call in flight was not answered/);

      // The next write waits for the new worker and is recorded.
      const after = sampleIncident();
      await store.insertIncident(after);
      expect(workers).toHaveLength(2);
      expect(store.workerRestarts).toBe(1);
      expect((await store.getIncident(before.id))?.id).toBe(before.id);
      expect((await store.getIncident(after.id))?.id).toBe(after.id);
      expect((await store.verifyChain()).ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a transaction open on the dead worker is not continued on the new one (no half-written autocommit)', async () => {
    const { store, current } = await openStore();
    try {
      const db = await store.database();
      await sql`create table scratch (v text)`.execute(db);
      const outcome = await db
        .connection()
        .execute(async (connection) => {
          await sql`begin immediate`.execute(connection);
          await sql`insert into scratch (v) values ('first')`.execute(connection);
          await current().terminate();
          await sql`insert into scratch (v) values ('second')`.execute(connection);
          await sql`commit`.execute(connection);
        })
        .then(
          () => 'committed',
          (error: unknown) => (error as Error).message,
        );
      expect(outcome).toMatch(/restarted during this transaction; it was rolled back and nothing after it ran|the call in flight was not answered/);
      const rows = await sql<{ v: string }>`select v from scratch`.execute(db);
      expect(rows.rows).toEqual([]);
      expect(store.workerRestarts).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('after too many restarts in a row the store says it is down, as AUDIT_UNREACHABLE', async () => {
    const { store, workers, current } = await openStore(1);
    try {
      await current().terminate();
      // The restarted worker dies too, before it served anything.
      await expect.poll(() => workers.length, { timeout: 5000 }).toBe(2);
      await current().terminate();
      const error = await store.insertIncident(sampleIncident()).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(FishError.isInstance(error)).toBe(true);
      expect((error as FishError).code).toBe(FishErrorCode.AUDIT_UNREACHABLE);
      expect((error as FishError).message).toMatch(/restarted 1 time\(s\) in a row without success; the audit store is down until fish restarts/);
      expect((await verifyAuditChain(store.path)).ok).toBe(true);
    } finally {
      await store.close();
    }
  });
});
