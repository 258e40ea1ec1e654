import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApprovalSigner, FishEngine, PatternSchema, type AutoExecPolicy, type Executor, type Notifier, type ObservedEvent, type ProposalActions, type ProposalNotice } from '@fish-sre/core';
import { createSqliteAuditStore, type SqliteAuditStore } from './index.js';

/*
 * An auto-exec proposal on a real SQLite file whose announcement the notifier could not deliver
 * in time: what the phone receives later, live or after a restart, asks for an approval; it never
 * says the fix runs by itself, and nothing runs until it is approved.
 */

const root = mkdtempSync(join(tmpdir(), 'fish-auto-exec-sqlite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const pattern = PatternSchema.parse({
  id: 'web-down',
  title: 'Web down',
  target_host: 'penny',
  required_signals: [{ id: 'refused', log: { message: 'ECONNREFUSED', level: ['error'] } }],
  fix: { script: 'fix.sh' },
  verify: { script: 'verify.sh' },
  samples: { match: ['connect ECONNREFUSED 1.2.3.4:80'] },
});
/** The streak is not what is tested here: this pattern has earned running by itself. */
const earned: AutoExecPolicy = { evaluate: async () => ({ autoExec: true, reason: 'earned for the test' }) };

let sequence = 0;
const event = (): ObservedEvent => ({
  id: `ev-${++sequence}`,
  kind: 'log',
  source: 'test',
  time: Date.now(),
  host: 'penny',
  service: 'web',
  level: 'error',
  message: 'connect ECONNREFUSED 10.0.0.1:80',
  labels: {},
});

function phone() {
  const received: Array<{ notice: ProposalNotice; actions: ProposalActions }> = [];
  const notifier: Notifier & { down: boolean } = {
    specificationVersion: 'v1',
    name: 'phone',
    down: true,
    async propose(notice, actions) {
      if (notifier.down) throw new Error('ntfy answered 502');
      received.push({ notice, actions });
      return { id: `r${received.length}`, channel: 'phone' };
    },
    async notify() {
      if (notifier.down) throw new Error('ntfy answered 502');
      return { id: 'n', channel: 'phone' };
    },
  };
  return { notifier, received };
}

function engineOn(audit: SqliteAuditStore, notifier: Notifier, runs: string[], windowMs: number) {
  const executor: Executor = {
    specificationVersion: 'v1',
    name: 'recording',
    hosts: () => ['penny'],
    async run(request) {
      runs.push(`${request.verb} ${request.patternId}`);
      return { exitCode: 0, stdout: '', stderr: '', durationMs: 1, timedOut: false };
    },
  };
  return new FishEngine({
    catalog: () => ({ patterns: [pattern], scriptsDir: root, loadedFrom: root, loadedAt: Date.now(), digest: 'd' }),
    sources: [],
    audit,
    notifier,
    executor,
    signer: new ApprovalSigner('auto-exec-sqlite-secret-0123456789abcdef'),
    publicUrl: 'https://fish.test',
    autoExec: true,
    autoExecPolicy: earned,
    autoExecDenyWindowMs: windowMs,
    outbox: { pollMs: 10, retryInitialMs: 20, retryMaxMs: 20 },
  });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 400 && !condition(); attempt++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

const token = (url: string) => url.slice(url.lastIndexOf('/') + 1);

describe('auto-exec announcement on a SQLite audit store', () => {
  it('not delivered within its Deny window: the late delivery is an approval request, and the fix runs once approved', async () => {
    const audit = createSqliteAuditStore({ path: join(root, 'live.sqlite'), synchronous: 'NORMAL' });
    await audit.init();
    const { notifier, received } = phone();
    const runs: string[] = [];
    const engine = engineOn(audit, notifier, runs, 50);
    await engine.start();
    try {
      await engine.ingest(event());
      await engine.idle(); // the 50 ms window ended, the announcement undelivered
      const [proposal] = await audit.listProposals({ limit: 1 });
      expect(proposal).toMatchObject({ autoExec: true, status: 'proposed' });
      notifier.down = false;
      await until(() => received.length > 0, 'the late delivery');
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(received.map((item) => item.notice.summary)).toEqual([
        expect.stringMatching(/Needs your approval\*\*: it does not run by itself \(its announcement could not be delivered within the 50ms Deny window\)/),
      ]);
      expect(received[0]!.notice.summary).not.toMatch(/Runs by itself/);
      expect(runs).toEqual([]);
      const outbox = await audit.listOutbox({ proposalId: proposal!.id });
      expect(outbox.map((row) => [row.kind, row.status, row.lastError?.startsWith('withdrawn: ') ?? false])).toEqual([
        ['proposal', 'expired', true],
        ['proposal', 'sent', false],
      ]);
      expect(await engine.decide(token(received[0]!.actions.approveUrl), 'approve', 'alice')).toMatchObject({ ok: true, status: 'approved' });
      await engine.idle();
      expect(runs).toEqual(['run web-down', 'verify web-down']);
    } finally {
      await engine.stop({ graceMs: 100 });
      await audit.close();
    }
  });

  it('never delivered before fish stopped: after the restart (a new store on the same file) the phone gets an approval request', async () => {
    const path = join(root, 'restart.sqlite');
    const before = createSqliteAuditStore({ path, synchronous: 'NORMAL' });
    await before.init();
    const first = phone();
    const runs: string[] = [];
    const engine = engineOn(before, first.notifier, runs, 60_000);
    await engine.start();
    await engine.ingest(event());
    const [proposal] = await before.listProposals({ limit: 1 });
    await engine.stop({ graceMs: 100 });
    await before.close();
    expect(first.received).toEqual([]);

    const after = createSqliteAuditStore({ path, synchronous: 'NORMAL' });
    await after.init();
    const second = phone();
    second.notifier.down = false;
    const restarted = engineOn(after, second.notifier, runs, 60_000);
    await restarted.start();
    try {
      await until(() => second.received.length > 0, 'the approval request');
      expect(second.received.map((item) => [item.notice.proposalId, item.notice.summary])).toEqual([
        [proposal!.id, expect.stringMatching(/Needs your approval.*fish stopped before its announcement was delivered/s)],
      ]);
      expect(second.received[0]!.notice.summary).not.toMatch(/Runs by itself/);
      expect(await after.getProposal(proposal!.id)).toMatchObject({ status: 'proposed' });
      expect(runs).toEqual([]);
    } finally {
      await restarted.stop({ graceMs: 100 });
      await after.close();
    }
  });
});
