import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, type AuditStore } from '@fish-sre/core';
import { MIGRATIONS } from '@fish-sre/audit-sql';
import { recordRun, sampleIncident, sampleProposal, startTestPostgres, testAuditStore, type TestPostgres } from '@fish-sre/testkit';
import { createPostgresAuditStore, type PostgresAuditStore } from './index.js';

let server: TestPostgres;
const urls = new WeakMap<AuditStore, string>();

beforeAll(async () => {
  server = await startTestPostgres();
}, 120_000);
afterAll(async () => {
  await server?.stop();
}, 60_000);

async function freshStore(): Promise<PostgresAuditStore> {
  const url = await server.createDatabase();
  const store = createPostgresAuditStore({ url, poolSize: 4 });
  urls.set(store, url);
  return store;
}

testAuditStore({
  name: 'postgres (a real PostgreSQL server, a fresh database per test)',
  createStore: freshStore,
  createPeer: (store) => createPostgresAuditStore({ url: urls.get(store)!, poolSize: 4 }),
});

async function errorOf(promise: Promise<unknown> | undefined): Promise<unknown> {
  return (promise ?? Promise.resolve()).then(
    () => undefined,
    (caught: unknown) => caught,
  );
}

async function fillLoop(store: AuditStore, count: number): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    const incident = sampleIncident();
    await store.insertIncident(incident);
    await recordRun(store, incident.id);
  }
}

describe('postgres audit store specifics', () => {
  it('keeps one unbroken hash chain when two instances write at once', async () => {
    const first = await freshStore();
    const second = createPostgresAuditStore({ url: urls.get(first)! });
    await first.init();
    await second.init();
    try {
      await Promise.all([
        fillLoop(first, 8),
        fillLoop(second, 8),
        ...Array.from({ length: 30 }, (_, index) => (index % 2 ? first : second).recordSystemEvent('tick', { index }, new Date().toISOString())),
      ]);
      const report = await second.verifyChain();
      expect(report).toMatchObject({ ok: true, rows: 16 * 6 + 30 });
      const seqs = (await first.history({ limit: 10_000 })).map((entry) => entry.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('detects an edited row with verifyChain', async () => {
    const store = await freshStore();
    await store.init();
    try {
      await fillLoop(store, 2);
      const database = new URL(urls.get(store)!).pathname.slice(1);
      await server.query("update audit_log set data_json = replace(data_json, 'penny', 'other') where seq = 1", [], database);
      expect(await store.verifyChain()).toMatchObject({ ok: false, firstBadSeq: 1 });
    } finally {
      await store.close();
    }
  });

  it('fails verifyChain on a proposals or executions row edited in the database, naming the table, row and field', async () => {
    const store = await freshStore();
    await store.init();
    try {
      await fillLoop(store, 1);
      const waiting = sampleProposal((await store.listIncidents())[0]!.id);
      await store.insertProposal(waiting);
      expect(await store.verifyChain()).toMatchObject({ ok: true });
      const database = new URL(urls.get(store)!).pathname.slice(1);
      await server.query("update proposals set status = 'approved', decided_by = 'owner' where id = $1", [waiting.id], database);
      expect(await store.verifyChain()).toMatchObject({ ok: false, mismatch: { table: 'proposals', rowId: waiting.id, field: 'status' } });
      await server.query("update proposals set status = 'proposed', decided_by = null where id = $1", [waiting.id], database);
      expect(await store.verifyChain()).toMatchObject({ ok: true });
      const [execution] = await store.listExecutions();
      await server.query("update executions set status = 'failed' where id = $1", [execution!.id], database);
      const report = await store.verifyChain();
      expect(report).toMatchObject({ ok: false, mismatch: { table: 'executions', rowId: execution!.id, field: 'status' } });
      expect(report.problem).toContain(`executions row ${execution!.id}, field status`);
    } finally {
      await store.close();
    }
  });

  it('records its migrations in kysely_migration', async () => {
    const store = await freshStore();
    await store.init();
    await store.close();
    const database = new URL(urls.get(store)!).pathname.slice(1);
    const rows = await server.query<{ name: string }>('select name from kysely_migration order by name', [], database);
    expect(rows.map((row) => row.name)).toEqual(Object.keys(MIGRATIONS).sort());
  });

  it('says the password is wrong when the login is refused (AUDIT_AUTH_FAILED)', async () => {
    const url = new URL(await server.createDatabase());
    url.password = 'not-the-password';
    const store = createPostgresAuditStore({ url: url.toString() });
    const error = await errorOf(store.init());
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_AUTH_FAILED)).toBe(true);
    expect((error as Error).message).toMatch(/refused the login of role "fish_admin" on postgres:\/\/127\.0\.0\.1:\d+\/fish_test_\w+ \(password authentication failed for user "fish_admin"\)/);
    expect((error as Error).message).not.toContain('not-the-password');
    await store.close();
  });

  it('says which right is missing when the role cannot create the tables (AUDIT_PERMISSION_DENIED)', async () => {
    const url = await server.createDatabase();
    const database = new URL(url).pathname.slice(1);
    await server.query("create role fish_no_create login password 'reader-password'");
    await server.query('revoke create on schema public from public', [], database);
    const store = createPostgresAuditStore({ url: server.url(database, { user: 'fish_no_create', password: 'reader-password' }) });
    const error = await errorOf(store.init());
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_PERMISSION_DENIED)).toBe(true);
    expect((error as Error).message).toMatch(/migrations could not start .*role "fish_no_create" lacks a right it needs .*permission denied for schema public/);
    await store.close();
  });

  it('names each missing table right of a role on an already migrated database', async () => {
    const owner = await freshStore();
    await owner.init();
    await owner.close();
    const database = new URL(urls.get(owner)!).pathname.slice(1);
    await server.query(`create role fish_partial_${database} login password 'partial-password'`);
    await server.query(`grant select, insert on all tables in schema public to fish_partial_${database}`, [], database);
    await server.query(`grant update on proposals, llm_usage, audit_head, incident_claims to fish_partial_${database}`, [], database);
    const store = createPostgresAuditStore({ url: server.url(database, { user: `fish_partial_${database}`, password: 'partial-password' }) });
    const error = await errorOf(store.init());
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_PERMISSION_DENIED)).toBe(true);
    expect((error as Error).message).toContain('lacks rights fish needs');
    expect((error as Error).message).toContain('UPDATE on executions; UPDATE, DELETE on host_locks');
    expect((error as Error).message).toContain('UPDATE on outbox');
    expect((error as Error).message).toContain('UPDATE, DELETE on absence_streams');
    await store.close();
    // With them granted, the same role runs the loop.
    await server.query(`grant update on executions, host_locks, outbox, absence_streams to fish_partial_${database}`, [], database);
    await server.query(`grant delete on host_locks, absence_streams to fish_partial_${database}`, [], database);
    const granted = createPostgresAuditStore({ url: server.url(database, { user: `fish_partial_${database}`, password: 'partial-password' }) });
    await granted.init();
    await fillLoop(granted, 1);
    expect(await granted.acquireHostLock({ host: 'penny', owner: 'a', at: new Date(0).toISOString(), expiresAt: new Date(1000).toISOString() })).toBe(true);
    await granted.releaseHostLock({ host: 'penny', owner: 'a' });
    const stream = { patternId: 'backup-silent', signalId: 'no-success', host: 'nas', service: 'restic-backup', lastSeen: new Date(0).toISOString(), reported: false };
    await granted.saveAbsenceStreams({ streams: [stream], removed: [] });
    await granted.saveAbsenceStreams({ streams: [{ ...stream, reported: true }], removed: [{ ...stream, host: 'vault' }] });
    expect(await granted.listAbsenceStreams()).toEqual([{ ...stream, reported: true }]);
    await granted.close();
  });

  it('refuses a database migrated by a newer fish (AUDIT_SCHEMA_NEWER)', async () => {
    const store = await freshStore();
    await store.init();
    await store.close();
    const database = new URL(urls.get(store)!).pathname.slice(1);
    await server.query("insert into kysely_migration (name, timestamp) values ('0099_future', '2030-01-01T00:00:00.000Z')", [], database);
    const older = createPostgresAuditStore({ url: urls.get(store)! });
    const error = await errorOf(older.init());
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_SCHEMA_NEWER)).toBe(true);
    expect((error as Error).message).toMatch(/migrated by a newer fish \(migration 0099_future; this version knows up to \d{4}_\w+\)/);
    await older.close();
  });

  it('says the server cannot be reached (AUDIT_UNREACHABLE, retryable)', async () => {
    const url = new URL(server.url('postgres'));
    url.port = String(server.port === 1 ? 2 : 1); // nothing listens on port 1
    const store = createPostgresAuditStore({ url: url.toString(), connectTimeoutMs: 2000 });
    const error = await errorOf(store.init());
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_UNREACHABLE)).toBe(true);
    expect((error as FishError).isRetryable).toBe(true);
    await store.close();
  });

  it('loses no acknowledged row across a server restart, and works again by itself afterwards', async () => {
    const store = await freshStore();
    await store.init();
    const acknowledged: string[] = [];
    const refused: unknown[] = [];
    let writing = true;
    // A writer that keeps going through the restart, as the loop does; each row it was told
    // is written must be there afterwards.
    const writer = (async () => {
      for (let index = 0; writing && index < 100_000; index++) {
        const incident = sampleIncident();
        try {
          await store.insertIncident(incident);
          acknowledged.push(incident.id);
        } catch (error) {
          refused.push(error);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })();
    try {
      while (acknowledged.length < 20) await new Promise((resolve) => setTimeout(resolve, 20));
      await server.restart({ downMs: 500 });
      const afterRestart = acknowledged.length;
      const deadline = Date.now() + 30_000;
      while (acknowledged.length < afterRestart + 20 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      writing = false;
      await writer;
    }
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((error) => FishError.hasCode(error, FishErrorCode.AUDIT_UNREACHABLE) && (error as FishError).isRetryable)).toBe(true);
    const stored = new Set((await store.listIncidents({ limit: 100_000 })).map((incident) => incident.id));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    expect(await store.verifyChain()).toMatchObject({ ok: true });
    await store.close();
  });
});
