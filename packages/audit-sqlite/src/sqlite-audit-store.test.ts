import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, OUTPUT_LIMIT_BYTES, silentLogger, systemClock } from '@fish-sre/core';
import { recordRun, sampleExecution, sampleIncident, sampleProposal, sampleStep, testAuditStore } from '@fish-sre/testkit';
import { Kysely, SqliteDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import { MIGRATIONS, createSqliteAuditStore, migrationProvider, sqliteAuditPlugin, verifyAuditChain, type SqliteAuditStore } from './index.js';

type Ids = { waiting: string; done: string; execution: string; forged: string };

const root = mkdtempSync(join(tmpdir(), 'fish-audit-sqlite-'));
let fileCounter = 0;
const nextPath = () => join(root, `audit-${++fileCounter}.sqlite`);

afterAll(() => rmSync(root, { recursive: true, force: true }));

testAuditStore({
  name: 'sqlite (file in a temp dir)',
  createStore: () => createSqliteAuditStore({ path: nextPath(), synchronous: 'NORMAL' }),
  // Another process on the same file: a second connection, in its own worker thread.
  createPeer: (store) => createSqliteAuditStore({ path: (store as SqliteAuditStore).path, synchronous: 'NORMAL' }),
});

describe('sqlite audit store specifics', () => {
  let store: SqliteAuditStore;
  let path: string;

  beforeEach(async () => {
    path = nextPath();
    store = createSqliteAuditStore({ path });
    await store.init?.();
  });
  afterEach(async () => {
    await store.close?.();
  });

  async function fillLoop(count: number) {
    for (let index = 0; index < count; index += 1) {
      const incident = sampleIncident();
      await store.insertIncident(incident);
      const proposal = sampleProposal(incident.id);
      await store.insertProposal(proposal);
      await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: proposal.createdAt, actor: 'owner', tokenId: `tok-${index}` });
      const execution = sampleExecution(proposal.id);
      await store.insertExecution(execution);
      await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: execution.createdAt });
      await store.transitionExecution({ id: execution.id, from: ['running'], to: 'succeeded', at: execution.createdAt, appendStep: sampleStep() });
    }
  }

  it('runs in WAL mode with foreign keys and a busy timeout on its connection', () => {
    const probe = new Database(path, { readonly: true });
    try {
      expect(probe.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      probe.close();
    }
  });

  it('enforces foreign keys (a proposal for a missing incident is refused with AUDIT_FAILED)', async () => {
    const error = await store.insertProposal(sampleProposal('nope')).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_FAILED)).toBe(true);
    expect((error as Error).message).toMatch(/FOREIGN KEY/i);
  });

  it('refuses settling an unknown reservation with AUDIT_FAILED', async () => {
    const error = await store.settleBudget({ id: 'no-such-reservation', actualEur: 1, inputTokens: 1, outputTokens: 1, at: new Date().toISOString() }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_FAILED)).toBe(true);
  });

  it('records its migrations as versions and re-opens without re-running them', async () => {
    await fillLoop(1);
    await store.close?.();
    const reopened = createSqliteAuditStore({ path });
    await reopened.init?.();
    expect(await reopened.listIncidents()).toHaveLength(1);
    await reopened.close?.();
    const raw = new Database(path, { readonly: true });
    try {
      const names = raw.prepare('select name from kysely_migration order by name').all() as Array<{ name: string }>;
      expect(names.map((row) => row.name)).toEqual(Object.keys(MIGRATIONS).sort());
      const tables = (raw.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>).map((row) => row.name);
      expect(tables).toEqual(expect.arrayContaining(['incidents', 'proposals', 'decisions', 'executions', 'notifications', 'llm_usage', 'audit_log']));
      expect(raw.prepare('select count(*) as count from decisions').get()).toEqual({ count: 1 });
    } finally {
      raw.close();
    }
    store = createSqliteAuditStore({ path });
  });

  it('refuses a database migrated by a newer fish with AUDIT_SCHEMA_NEWER, naming the migration', async () => {
    await store.close?.();
    const raw = new Database(path);
    raw.prepare("insert into kysely_migration (name, timestamp) values ('9999_from_the_future', '2030-01-01T00:00:00.000Z')").run();
    raw.close();
    const newer = createSqliteAuditStore({ path });
    const error = await newer.init?.().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(error, FishErrorCode.AUDIT_SCHEMA_NEWER)).toBe(true);
    expect((error as Error).message).toMatch(/migrated by a newer fish \(migration 9999_from_the_future; this version knows up to \d{4}_\w+\)/);
    await newer.close?.();
    store = createSqliteAuditStore({ path: nextPath() });
  });

  it('upgrades a database written before the coordination migration, and its chain still verifies', async () => {
    await store.close?.();
    const oldPath = nextPath();
    // The schema as the first release left it: only 0001, no head row until the first write.
    const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(oldPath) }) });
    expect((await new Migrator({ db: old, provider: migrationProvider }).migrateTo('0001_initial')).error).toBeUndefined();
    await old.destroy();
    store = createSqliteAuditStore({ path: oldPath });
    await store.init?.();
    await fillLoop(2);
    expect(await verifyAuditChain(oldPath)).toMatchObject({ ok: true, rows: 12 });
    expect((await store.listExecutions())[0]?.owner).toBeUndefined();
  });

  it('truncates step output at 64 KiB and redacts secrets in it', async () => {
    const incident = sampleIncident();
    await store.insertIncident(incident);
    const proposal = sampleProposal(incident.id);
    await store.insertProposal(proposal);
    const execution = sampleExecution(proposal.id);
    await store.insertExecution(execution);
    await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: execution.createdAt });
    const huge = 'x'.repeat(OUTPUT_LIMIT_BYTES * 3);
    const done = await store.transitionExecution({
      id: execution.id,
      from: ['running'],
      to: 'failed',
      at: execution.createdAt,
      appendStep: sampleStep({ exitCode: 1, stdout: huge, stderr: 'Authorization: Bearer abcdefghijklmnop123' }),
    });
    const step = done?.steps[0];
    expect(Buffer.byteLength(step?.stdout ?? '')).toBeLessThan(OUTPUT_LIMIT_BYTES + 200);
    expect(step?.stdout).toContain('output truncated');
    expect(step?.stderr).not.toContain('abcdefghijklmnop123');
    const stored = await store.getExecution(execution.id);
    expect(stored?.steps[0]?.stdout).toBe(step?.stdout);
  });

  describe('hash chain', () => {
    it('verifies an untouched chain, from the store and from the file', async () => {
      await fillLoop(3);
      await store.recordSystemEvent('stop', { reason: 'test' }, new Date().toISOString());
      const report = await verifyAuditChain(store);
      expect(report.ok).toBe(true);
      expect(report.rows).toBe(3 * 6 + 1);
      await store.close?.();
      const fromFile = await verifyAuditChain(path);
      expect(fromFile).toEqual(report);
      store = createSqliteAuditStore({ path });
    });

    async function tamper(statements: string[]) {
      await store.close?.();
      const raw = new Database(path);
      try {
        for (const statement of statements) raw.exec(statement);
      } finally {
        raw.close();
      }
      store = createSqliteAuditStore({ path });
      return verifyAuditChain(path);
    }

    it('detects an edited row', async () => {
      await fillLoop(2);
      const report = await tamper([`update audit_log set data_json = replace(data_json, 'owner', 'mallory') where seq = 3`]);
      expect(report.ok).toBe(false);
      expect(report.firstBadSeq).toBe(3);
      expect(report.problem).toMatch(/edited/);
    });

    it('detects an edited timestamp even with the hash recomputed naively', async () => {
      await fillLoop(1);
      const report = await tamper([`update audit_log set at = '2020-01-01T00:00:00.000Z' where seq = 2`]);
      expect(report.ok).toBe(false);
      expect(report.firstBadSeq).toBe(2);
    });

    it('detects a deleted row in the middle', async () => {
      await fillLoop(2);
      const report = await tamper(['delete from audit_log where seq = 4']);
      expect(report.ok).toBe(false);
      expect(report.firstBadSeq).toBe(5);
      expect(report.problem).toMatch(/missing|moved/);
    });

    it('detects rows cut off the end', async () => {
      await fillLoop(2);
      const report = await tamper(['delete from audit_log where seq >= 11']);
      expect(report.ok).toBe(false);
      expect(report.problem).toMatch(/cut off/);
    });

    it('detects reordered rows (two rows swapped)', async () => {
      await fillLoop(2);
      const report = await tamper(['update audit_log set seq = -1 where seq = 5', 'update audit_log set seq = 5 where seq = 6', 'update audit_log set seq = 6 where seq = -1']);
      expect(report.ok).toBe(false);
      expect(report.firstBadSeq).toBe(5);
    });

    it('reports the head (seq and hash) to anchor elsewhere, and detects every row deleted plus the head', async () => {
      await fillLoop(2);
      const before = await verifyAuditChain(path);
      expect(before).toMatchObject({ ok: true, headSeq: before.rows });
      expect(before.headHash).toMatch(/^[0-9a-f]{64}$/);
      const report = await tamper(['delete from audit_log', 'delete from audit_head']);
      expect(report).toMatchObject({ ok: false, rows: 0, problem: expect.stringMatching(/audit_head row is missing.*wiped/) });
    });

    it('with an anchored head: detects a wiped trail whose head was put back, and a rebuilt chain', async () => {
      await fillLoop(2);
      const head = await verifyAuditChain(path);
      const anchor = { seq: head.headSeq!, hash: head.headHash };
      expect(await verifyAuditChain(path, anchor)).toMatchObject({ ok: true });
      // The trail deleted and the head row reset to the genesis state: the proposals left behind
      // have no entry any more; with every table emptied as well, only the anchor tells.
      const wiped = await tamper(['delete from audit_log', `update audit_head set seq = 0, hash = '${'0'.repeat(64)}'`]);
      expect(wiped).toMatchObject({ ok: false, mismatch: { table: 'proposals', field: 'id' } });
      const emptied = await tamper(['delete from executions', 'delete from decisions', 'delete from notifications', 'delete from outbox', 'delete from proposals', 'delete from incidents']);
      expect(emptied.ok).toBe(true);
      expect(await verifyAuditChain(path, anchor)).toMatchObject({ ok: false, problem: expect.stringMatching(/anchored head \(seq \d+\) is no longer in the chain/) });
      // Rows written after the anchor are fine; a chain rebuilt from scratch is not.
      await store.close?.();
      store = createSqliteAuditStore({ path });
      await store.init?.();
      await fillLoop(3);
      expect(await verifyAuditChain(path, anchor)).toMatchObject({ ok: false, problem: expect.stringMatching(/not the one anchored earlier.*rebuilt/) });
    });

    describe('proposals and executions rows against their chained entries', () => {
      /** One proposal left waiting (with its pin), one approved and run to success. */
      async function seed() {
        const incident = sampleIncident();
        await store.insertIncident(incident);
        const pin = { catalogDigest: 'c'.repeat(64), pattern: 'f'.repeat(64), scripts: [{ step: 'fix' as const, script: 'compose-up.sh', sha256: 'a'.repeat(64) }] };
        const waiting = sampleProposal(incident.id, { pin });
        await store.insertProposal(waiting);
        await store.setProposalNotification(waiting.id, 'msg-1');
        const { proposal: done, execution } = await recordRun(store, incident.id, 'failed');
        return { waiting, done, execution };
      }

      it('verifies untouched rows', async () => {
        await seed();
        await fillLoop(1);
        expect(await verifyAuditChain(path)).toMatchObject({ ok: true });
        expect(await verifyAuditChain(store)).toMatchObject({ ok: true });
      });

      it.each([
        [
          'a waiting proposal set to approved',
          (ids: Ids) => `update proposals set status = 'approved', decided_by = 'owner', decided_at = created_at where id = '${ids.waiting}'`,
          'proposals',
          'waiting',
          'status',
        ],
        ['the pin of a proposal', (ids: Ids) => `update proposals set pin_json = replace(pin_json, 'aaaa', 'bbbb') where id = '${ids.waiting}'`, 'proposals', 'waiting', 'pin'],
        ['the target host of a proposal', (ids: Ids) => `update proposals set target_host = 'prod-db' where id = '${ids.waiting}'`, 'proposals', 'waiting', 'target_host'],
        ['the pattern of a proposal', (ids: Ids) => `update proposals set pattern_id = 'other-fix' where id = '${ids.waiting}'`, 'proposals', 'waiting', 'pattern_id'],
        ['the actor of a decision', (ids: Ids) => `update proposals set decided_by = 'mallory' where id = '${ids.done}'`, 'proposals', 'done', 'decided_by'],
        ['an execution outcome', (ids: Ids) => `update executions set status = 'succeeded' where id = '${ids.execution}'`, 'executions', 'execution', 'status'],
        ['a step exit code', (ids: Ids) => `update executions set steps_json = replace(steps_json, '"exitCode":3', '"exitCode":0') where id = '${ids.execution}'`, 'executions', 'execution', 'steps'],
        ['an execution detail', (ids: Ids) => `update executions set detail = 'all good' where id = '${ids.execution}'`, 'executions', 'execution', 'detail'],
        ['an execution deleted', (ids: Ids) => `delete from executions where id = '${ids.execution}'`, 'executions', 'execution', 'id'],
        [
          'a proposal inserted without an entry',
          (ids: Ids) =>
            `insert into proposals select 'prop_forged', incident_id, pattern_id, target_host, service, confidence, 'approved', dry_run, auto_exec, created_at, expires_at, created_at, 'owner', null, pin_json from proposals where id = '${ids.waiting}'`,
          'proposals',
          'forged',
          'id',
        ],
      ] as const)('fails, naming the table, row and field, on %s', async (_, statement, table, which, field) => {
        const { waiting, done, execution } = await seed();
        const ids: Ids = { waiting: waiting.id, done: done.id, execution: execution.id, forged: 'prop_forged' };
        const report = await tamper([statement(ids)]);
        expect(report).toMatchObject({ ok: false, mismatch: { table, rowId: ids[which], field } });
        expect(report.problem).toContain(`${table} row ${ids[which]}, field ${field}`);
        expect(await verifyAuditChain(store)).toMatchObject({ ok: false, mismatch: { table, rowId: ids[which], field } });
      });
    });

    it('detects a deleted row whose successors were renumbered', async () => {
      await fillLoop(1);
      const report = await tamper(['delete from audit_log where seq = 2', 'update audit_log set seq = seq - 1 where seq > 2', 'update audit_head set seq = seq - 1']);
      expect(report.ok).toBe(false);
      expect(report.firstBadSeq).toBe(2);
    });
  });

  it('keeps exactly one execution when two stores (two connections) race on one file', async () => {
    const incident = sampleIncident();
    await store.insertIncident(incident);
    const proposal = sampleProposal(incident.id);
    await store.insertProposal(proposal);
    const other = createSqliteAuditStore({ path });
    await other.init?.();
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? store : other).insertExecution(sampleExecution(proposal.id))));
      expect(results.filter(Boolean)).toHaveLength(1);
      const decisions = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          (index % 2 === 0 ? store : other).transitionProposal({ id: proposal.id, from: 'proposed', to: index % 3 === 0 ? 'denied' : 'approved', at: proposal.createdAt, actor: `a${index}` }),
        ),
      );
      expect(decisions.filter((decision) => decision !== undefined)).toHaveLength(1);
      expect((await verifyAuditChain(store)).ok).toBe(true);
    } finally {
      await other.close?.();
    }
  });

  it('refuses work after close with PLUGIN_DISPOSED', async () => {
    await store.close?.();
    const error = await store.getIncident('x').then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(error, FishErrorCode.PLUGIN_DISPOSED)).toBe(true);
    store = createSqliteAuditStore({ path });
  });

  it('is created by its plugin descriptor inside the data folder', async () => {
    expect(sqliteAuditPlugin.kind).toBe('audit');
    expect(sqliteAuditPlugin.type).toBe('sqlite');
    const options = sqliteAuditPlugin.optionsSchema.parse({ path: 'plugin.sqlite' });
    const created = (await sqliteAuditPlugin.create(options, {
      name: 'audit',
      logger: silentLogger,
      clock: systemClock,
      catalog: () => ({ patterns: [] }) as never,
      dataDir: root,
      fetch: globalThis.fetch,
    })) as SqliteAuditStore;
    expect(created.path).toBe(join(root, 'plugin.sqlite'));
    await created.init?.();
    await created.close?.();
  });
});
