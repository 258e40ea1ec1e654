import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../approval/approval-token.js';
import type { CatalogSnapshot } from '../catalog/catalog-schema.js';
import type { AuditStore } from '../contracts/audit-store.js';
import type { NotificationReceipt, Notifier, NotifierMessage, ProposalActions, ProposalNotice, ProposalUpdate } from '../contracts/notifier.js';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { EXECUTION_TRANSITIONS, PROPOSAL_TRANSITIONS, type ExecutionStatus, type ProposalRecord, type ProposalStatus } from '../contracts/records.js';
import type { Source } from '../contracts/source.js';
import { createLocalExecutor } from '../builtins/local-executor.js';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import { FishError, FishErrorCode } from '../errors.js';
import { logEvent, makePattern, memoryBundleWriter } from '../test-support/fixtures.js';
import { ManualClock } from '../util/clock.js';
import { FishEngine, type FishEngineOptions } from './engine.js';

const SECRET = 'engine-test-secret-0123456789abcdef';
const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

/** Every script appends "<verb> <pattern> <script>" to runs.log in the sandbox, then does its job. */
const SCRIPTS: Record<string, string> = {
  'fix.sh': 'echo "$1 $FISH_PATTERN_ID fix.sh" >> runs.log\necho fixed > state\nexit 0',
  'verify.sh': 'echo "$1 $FISH_PATTERN_ID verify.sh" >> runs.log\ngrep -q fixed state',
  'fail.sh': 'echo "$1 $FISH_PATTERN_ID fail.sh" >> runs.log\necho half-done > state\necho "could not restart" >&2\nexit 3',
  'verify-fail.sh': 'echo "$1 $FISH_PATTERN_ID verify-fail.sh" >> runs.log\nexit 1',
  'rollback.sh': 'echo "$1 $FISH_PATTERN_ID rollback.sh" >> runs.log\necho rolled-back > state\nexit 0',
  'slow.sh': 'echo "$1 $FISH_PATTERN_ID slow.sh" >> runs.log\nsleep 0.3\necho fixed > state',
};

async function setup() {
  const root = await mkdtemp(join(tmpdir(), 'fish-engine-'));
  roots.push(root);
  const scriptsDir = join(root, 'scripts');
  const sandboxDir = join(root, 'sandbox');
  await mkdir(scriptsDir);
  await mkdir(sandboxDir);
  for (const [name, body] of Object.entries(SCRIPTS)) {
    await writeFile(join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(scriptsDir, name), 0o755);
  }
  return { root, scriptsDir, sandboxDir };
}

const PATTERNS = [
  makePattern({ id: 'stack-down', title: 'Stack down', required_signals: [{ id: 'line', log: { message: 'stack down' } }], samples: { match: ['stack down'] } }),
  makePattern({
    id: 'fix-fails',
    required_signals: [{ id: 'line', log: { message: 'fix fails' } }],
    fix: { script: 'fail.sh' },
    on_failure: 'rollback',
    rollback: { script: 'rollback.sh' },
    samples: { match: ['fix fails'] },
  }),
  makePattern({
    id: 'escalates',
    required_signals: [{ id: 'line', log: { message: 'fix escalates' } }],
    fix: { script: 'fail.sh' },
    diagnosis: 'Check the disk.',
    samples: { match: ['fix escalates'] },
  }),
  makePattern({ id: 'verify-fails', required_signals: [{ id: 'line', log: { message: 'verify fails' } }], verify: { script: 'verify-fail.sh' }, samples: { match: ['verify fails'] } }),
  makePattern({
    id: 'earned',
    required_signals: [{ id: 'line', log: { message: 'earned auto', level: ['error'] } }],
    promote_to_autoexec_after: 2,
    cooldown: '1s',
    samples: { match: ['earned auto'] },
  }),
  makePattern({ id: 'from-event', required_signals: [{ id: 'line', log: { message: 'on its host' } }], target_host: '$event_host', samples: { match: ['on its host'] } }),
  makePattern({
    id: 'slow-fix',
    required_signals: [{ id: 'line', log: { message: 'slow fix' } }],
    fix: { script: 'slow.sh' },
    on_failure: 'rollback',
    rollback: { script: 'rollback.sh' },
    samples: { match: ['slow fix'] },
  }),
  makePattern({
    id: 'disk-filling',
    required_signals: [{ id: 'used', metric: { query: 'disk_used_percent', op: '>', threshold: 90, for: '2m' } }],
    samples: { match: [{ message: 'disk', metric: { name: 'disk_used_percent', value: 95 } }] },
  }),
  makePattern({
    id: 'diagnose-only',
    severity: 'critical',
    required_signals: [{ id: 'line', log: { message: 'raid degraded' } }],
    fix: undefined,
    verify: undefined,
    diagnosis: 'Replace the failed disk; nothing safe to automate.',
    samples: { match: ['raid degraded'] },
  }),
  makePattern({ id: 'no-cooldown', required_signals: [{ id: 'line', log: { message: 'flood' } }], cooldown: 0, samples: { match: ['flood'] } }),
];

type Recorded = { type: 'propose'; notice: ProposalNotice; actions: ProposalActions } | { type: 'update'; update: ProposalUpdate } | { type: 'notify'; message: NotifierMessage };

function recordingNotifier(): Notifier & { sent: Recorded[] } {
  const sent: Recorded[] = [];
  let n = 0;
  const receipt = (): NotificationReceipt => ({ id: `r${++n}`, channel: 'recording' });
  return {
    specificationVersion: 'v1',
    name: 'recording',
    sent,
    async propose(notice, actions) {
      sent.push({ type: 'propose', notice, actions });
      return receipt();
    },
    async update(update) {
      sent.push({ type: 'update', update });
      return receipt();
    },
    async notify(message) {
      sent.push({ type: 'notify', message });
      return receipt();
    },
  };
}

interface Harness {
  engine: FishEngine;
  audit: AuditStore;
  notifier: ReturnType<typeof recordingNotifier>;
  bundles: ReturnType<typeof memoryBundleWriter>;
  clock: ManualClock;
  dirs: Awaited<ReturnType<typeof setup>>;
  fire(message: string, fields?: Partial<ObservedEvent>): Promise<void>;
  lastProposal(): { notice: ProposalNotice; approve: string; deny: string };
  runs(): Promise<string[]>;
}

async function harness(overrides: Partial<FishEngineOptions> = {}, shared?: { audit?: AuditStore; dirs?: Awaited<ReturnType<typeof setup>>; clock?: ManualClock }): Promise<Harness> {
  const dirs = shared?.dirs ?? (await setup());
  const audit = shared?.audit ?? createMemoryAuditStore();
  const clock = shared?.clock ?? new ManualClock(Date.UTC(2026, 0, 1, 9, 30));
  const notifier = recordingNotifier();
  const bundles = memoryBundleWriter();
  const catalog: CatalogSnapshot = { patterns: PATTERNS, scriptsDir: dirs.scriptsDir, loadedFrom: dirs.root, loadedAt: clock.now(), digest: 'x' };
  const engine = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit,
    notifier,
    executor: createLocalExecutor({ scriptsDir: dirs.scriptsDir, sandboxDir: dirs.sandboxDir, hosts: ['penny', 'leonard'] }),
    signer: new ApprovalSigner(SECRET),
    publicUrl: 'https://fish.example.test/',
    clock,
    unknown: { count: 3 },
    unknownBundles: bundles,
    ...overrides,
  });
  const token = (url: string) => url.slice(url.lastIndexOf('/') + 1);
  return {
    engine,
    audit,
    notifier,
    bundles,
    clock,
    dirs,
    async fire(message, fields = {}) {
      await engine.ingest(logEvent({ message, time: clock.now(), ...fields }));
      await engine.idle();
    },
    lastProposal() {
      const proposals = notifier.sent.filter((item): item is Extract<Recorded, { type: 'propose' }> => item.type === 'propose');
      const last = proposals[proposals.length - 1];
      if (!last) throw new Error('no proposal was sent');
      return { notice: last.notice, approve: token(last.actions.approveUrl), deny: token(last.actions.denyUrl) };
    },
    async runs() {
      try {
        return (await readFile(join(dirs.sandboxDir, 'runs.log'), 'utf8')).trim().split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

const updates = (h: Harness) => h.notifier.sent.flatMap((item) => (item.type === 'update' ? [item.update.status] : []));
const notifies = (h: Harness) => h.notifier.sent.flatMap((item) => (item.type === 'notify' ? [item.message] : []));
async function historyOf(audit: AuditStore, id: string) {
  return (await audit.history({ entityId: id })).map((entry) => `${entry.entity}:${entry.action}`);
}

describe('FishEngine: the proposal state machine', () => {
  it('proposed -> approved -> pending -> running -> verifying -> succeeded, with the scripts run once', async () => {
    const h = await harness();
    await h.fire('stack down');
    const { notice, approve } = h.lastProposal();
    expect(notice).toMatchObject({ patternId: 'stack-down', title: 'Stack down', host: 'penny', service: 'homepage', confidence: 1, dryRun: false });
    expect(h.notifier.sent[0]).toMatchObject({
      type: 'propose',
      actions: { approveUrl: expect.stringMatching(/^https:\/\/fish\.example\.test\/approve\//), viewUrl: `https://fish.example.test/proposals/${notice.proposalId}` },
    });
    expect((await h.audit.getProposal(notice.proposalId))?.status).toBe('proposed');
    expect(await h.runs()).toEqual([]);

    const outcome = await h.engine.decide(approve, 'approve', 'alice');
    expect(outcome).toMatchObject({ ok: true, status: 'approved' });
    await h.engine.idle();
    const execution = await h.audit.getExecutionByProposal(notice.proposalId);
    expect(execution).toMatchObject({ status: 'succeeded', targetHost: 'penny', dryRun: false });
    expect(execution!.steps.map((step) => [step.verb, step.script, step.exitCode])).toEqual([
      ['run', 'fix.sh', 0],
      ['verify', 'verify.sh', 0],
    ]);
    expect(await h.runs()).toEqual(['run stack-down fix.sh', 'verify stack-down verify.sh']);
    expect(await readFile(join(h.dirs.sandboxDir, 'state'), 'utf8')).toBe('fixed\n');
    expect(await historyOf(h.audit, notice.proposalId)).toEqual(['proposal:proposed', 'decision:approved']);
    expect(await historyOf(h.audit, execution!.id)).toEqual(['execution:pending', 'execution:running', 'execution:verifying', 'execution:succeeded']);
    expect(updates(h)).toEqual(['approved', 'succeeded']);
    expect(h.engine.stats()).toMatchObject({ proposals: 1, executions: 1, incidents: 1 });
  });

  it('failed -> rolled_back runs the rollback script', async () => {
    const h = await harness();
    await h.fire('fix fails');
    const { notice, approve } = h.lastProposal();
    await h.engine.decide(approve, 'approve', 'alice');
    await h.engine.idle();
    const execution = await h.audit.getExecutionByProposal(notice.proposalId);
    expect(execution).toMatchObject({ status: 'rolled_back', detail: 'fix failed; rolled back' });
    expect(execution!.steps.map((step) => [step.verb, step.exitCode])).toEqual([
      ['run', 3],
      ['rollback', 0],
    ]);
    expect(execution!.steps[0]!.stderr).toContain('could not restart');
    expect(await h.runs()).toEqual(['run fix-fails fail.sh', 'rollback fix-fails rollback.sh']);
    expect(await readFile(join(h.dirs.sandboxDir, 'state'), 'utf8')).toBe('rolled-back\n');
    expect(await historyOf(h.audit, execution!.id)).toEqual(['execution:pending', 'execution:running', 'execution:failed', 'execution:rolled_back']);
    expect(updates(h)).toEqual(['approved', 'rolled_back']);
  });

  it('failed -> escalated when the fix fails and on_failure is escalate', async () => {
    const h = await harness();
    await h.fire('fix escalates');
    const { notice, approve } = h.lastProposal();
    await h.engine.decide(approve, 'approve', 'alice');
    await h.engine.idle();
    const execution = await h.audit.getExecutionByProposal(notice.proposalId);
    expect(execution?.status).toBe('escalated');
    expect(await h.runs()).toEqual(['run escalates fail.sh']);
    const escalation = notifies(h).find((message) => message.kind === 'escalation');
    expect(escalation?.body).toContain('Check the disk.');
    expect(escalation?.priority).toBe('high');
    expect(updates(h)).toEqual(['approved', 'escalated']);
  });

  it('a verify that fails ends failed -> escalated, without running verify twice', async () => {
    const h = await harness();
    await h.fire('verify fails');
    const { notice, approve } = h.lastProposal();
    await h.engine.decide(approve, 'approve', 'alice');
    await h.engine.idle();
    const execution = await h.audit.getExecutionByProposal(notice.proposalId);
    expect(execution?.status).toBe('escalated');
    expect(await historyOf(h.audit, execution!.id)).toEqual(['execution:pending', 'execution:running', 'execution:verifying', 'execution:failed', 'execution:escalated']);
    expect(await h.runs()).toEqual(['run verify-fails fix.sh', 'verify verify-fails verify-fail.sh']);
  });

  it('denied: nothing runs, and a later approve is answered "already denied"', async () => {
    const h = await harness();
    await h.fire('stack down');
    const { notice, approve, deny } = h.lastProposal();
    expect(await h.engine.decide(deny, 'deny', 'bob')).toMatchObject({ ok: true, status: 'denied' });
    const late = await h.engine.decide(approve, 'approve', 'alice');
    expect(late).toMatchObject({ ok: false, status: 'already-decided' });
    expect(late.message).toMatch(/^already denied at 09:30 UTC by bob$/);
    await h.engine.idle();
    expect(await h.audit.getExecutionByProposal(notice.proposalId)).toBeUndefined();
    expect(await h.runs()).toEqual([]);
    expect(updates(h)).toEqual(['denied']);
  });

  it('expired by time: expireProposals marks it, the approve link answers 410, nothing runs', async () => {
    const h = await harness({ proposalTtlMs: 60_000 });
    await h.fire('stack down');
    const { notice, approve } = h.lastProposal();
    h.clock.advance(59_000);
    expect(await h.engine.expireProposals()).toBe(0);
    h.clock.advance(1_000);
    expect(await h.engine.expireProposals()).toBe(1);
    expect((await h.audit.getProposal(notice.proposalId))?.status).toBe('expired');
    const outcome = await h.engine.decide(approve, 'approve', 'alice');
    expect(outcome).toMatchObject({ ok: false, status: 'expired' });
    await h.engine.idle();
    expect(await h.runs()).toEqual([]);
    expect(updates(h)).toEqual(['expired']);
  });

  it('an approve link used after expiry (not yet swept) expires the proposal and answers 410', async () => {
    const h = await harness({ proposalTtlMs: 60_000 });
    await h.fire('stack down');
    const { notice, approve } = h.lastProposal();
    h.clock.advance(61_000);
    expect(await h.engine.decide(approve, 'approve', 'alice')).toMatchObject({ ok: false, status: 'expired' });
    expect((await h.audit.getProposal(notice.proposalId))?.status).toBe('expired');
    await h.engine.idle();
    expect(await h.runs()).toEqual([]);
  });

  async function earnTwoSuccesses(h: Harness) {
    for (let i = 0; i < 2; i++) {
      await h.fire('earned auto');
      await h.engine.decide(h.lastProposal().approve, 'approve', 'alice');
      await h.engine.idle();
      h.clock.advance(120_000); // past the cooldown and the rate limit
    }
  }

  it('auto-executes a pattern after N verified successes when enabled, announced first with a Deny window', async () => {
    const h = await harness({ autoExec: true, autoExecDenyWindowMs: 50 });
    await earnTwoSuccesses(h);
    const proposedBefore = h.notifier.sent.filter((item) => item.type === 'propose').length;
    await h.fire('earned auto');
    // Announced before it ran: the proposal notification, with the usual Deny link.
    const announced = h.notifier.sent.filter((item) => item.type === 'propose');
    expect(announced.length).toBe(proposedBefore + 1);
    expect(h.lastProposal().notice.summary).toMatch(/Runs by itself.*unless you tap Deny/);
    const [latest] = await h.audit.listProposals({ limit: 1 });
    expect(latest).toMatchObject({ autoExec: true, status: 'approved', decidedBy: 'auto-exec' });
    expect((await h.audit.history({ entityId: latest!.id })).find((entry) => entry.action === 'approved')?.data['reason']).toMatch(/consecutive on penny.*announced 50ms before, no deny/);
    expect((await h.audit.getExecutionByProposal(latest!.id))?.status).toBe('succeeded');
    expect((await h.runs()).filter((line) => line.startsWith('run '))).toHaveLength(3);
    // And after it: the outcome.
    expect(h.notifier.sent.filter((item) => item.type === 'update').at(-1)).toMatchObject({ update: { proposalId: latest!.id, status: 'succeeded' } });
  });

  it('a Deny tapped during the window cancels the unattended run, recorded', async () => {
    const h = await harness({ autoExec: true, autoExecDenyWindowMs: 300 });
    await earnTwoSuccesses(h);
    const ingested = h.engine.ingest(logEvent({ message: 'earned auto', time: h.clock.now() }));
    const before = h.notifier.sent.length;
    for (let attempt = 0; attempt < 100 && !h.notifier.sent.slice(before).some((item) => item.type === 'propose'); attempt++) await new Promise((resolve) => setTimeout(resolve, 5));
    const { notice, deny } = h.lastProposal();
    expect(await h.engine.decide(deny, 'deny', 'alice')).toMatchObject({ ok: true, status: 'denied' });
    await ingested;
    await h.engine.idle();
    expect((await h.audit.getProposal(notice.proposalId))?.status).toBe('denied');
    expect(await h.audit.getExecutionByProposal(notice.proposalId)).toBeUndefined();
    expect((await h.runs()).filter((line) => line.startsWith('run '))).toHaveLength(2);
    const system = (await h.audit.history()).filter((entry) => entry.entity === 'system' && entry.action === 'auto-exec-cancelled');
    expect(system.map((entry) => entry.data)).toEqual([{ proposalId: notice.proposalId, status: 'denied', by: 'alice' }]);
  });

  it('does not auto-execute when the operator has not enabled it', async () => {
    const h = await harness({ autoExec: false });
    await earnTwoSuccesses(h);
    await h.fire('earned auto');
    const [latest] = await h.audit.listProposals({ limit: 1 });
    expect(latest).toMatchObject({ autoExec: false, status: 'proposed' });
    expect(h.lastProposal().notice.proposalId).toBe(latest!.id);
    expect((await h.runs()).filter((line) => line.startsWith('run '))).toHaveLength(2);
  });
});

describe('FishEngine: illegal transitions are refused by the store', () => {
  const proposalStatuses = Object.keys(PROPOSAL_TRANSITIONS) as ProposalStatus[];
  const executionStatuses = Object.keys(EXECUTION_TRANSITIONS) as ExecutionStatus[];

  it('every illegal proposal transition throws STATE_TRANSITION_ILLEGAL, is recorded, and runs nothing', async () => {
    const h = await harness();
    await h.fire('stack down');
    const { notice } = h.lastProposal();
    let refused = 0;
    for (const from of proposalStatuses) {
      for (const to of proposalStatuses) {
        if (PROPOSAL_TRANSITIONS[from].includes(to)) continue;
        const attempt = h.audit.transitionProposal({ id: notice.proposalId, from, to, at: new Date(h.clock.now()).toISOString(), actor: 'mallory' });
        await expect(attempt).rejects.toSatisfy((error: unknown) => FishError.hasCode(error, FishErrorCode.STATE_TRANSITION_ILLEGAL));
        refused++;
      }
    }
    expect(refused).toBe(13);
    const history = await h.audit.history({ entityId: notice.proposalId });
    expect(history.filter((entry) => entry.action === 'transition-refused')).toHaveLength(13);
    expect((await h.audit.getProposal(notice.proposalId))?.status).toBe('proposed');
    await h.engine.idle();
    expect(await h.runs()).toEqual([]);
  });

  it('every illegal execution transition throws STATE_TRANSITION_ILLEGAL and is recorded', async () => {
    const audit = createMemoryAuditStore();
    const at = '2026-01-01T00:00:00.000Z';
    await audit.insertIncident({
      id: 'inc',
      fingerprint: 'f',
      host: 'penny',
      service: 's',
      patternId: 'stack-down',
      candidates: ['stack-down'],
      confidence: 1,
      method: 'deterministic',
      reason: 'r',
      evidence: [],
      eventCount: 1,
      firstSeen: at,
      lastSeen: at,
      createdAt: at,
    });
    // A path of legal transitions reaching each status.
    const paths: Record<ExecutionStatus, ExecutionStatus[]> = {
      pending: [],
      running: ['running'],
      verifying: ['running', 'verifying'],
      succeeded: ['running', 'succeeded'],
      failed: ['running', 'failed'],
      rolled_back: ['running', 'failed', 'rolled_back'],
      escalated: ['running', 'failed', 'escalated'],
      interrupted: ['interrupted'],
    };
    let refused = 0;
    for (const status of executionStatuses) {
      const proposalId = `prop_${status}`;
      await audit.insertProposal({
        id: proposalId,
        incidentId: 'inc',
        patternId: 'stack-down',
        targetHost: 'penny',
        service: 's',
        confidence: 1,
        status: 'proposed',
        dryRun: false,
        autoExec: false,
        createdAt: at,
        expiresAt: at,
      });
      await audit.insertExecution({ id: `exe_${status}`, proposalId, patternId: 'stack-down', targetHost: 'penny', status: 'pending', dryRun: false, createdAt: at, updatedAt: at, steps: [] });
      let current: ExecutionStatus = 'pending';
      for (const next of paths[status]) {
        expect(await audit.transitionExecution({ id: `exe_${status}`, from: [current], to: next, at })).toBeDefined();
        current = next;
      }
      for (const to of executionStatuses) {
        if (EXECUTION_TRANSITIONS[status].includes(to)) continue;
        await expect(audit.transitionExecution({ id: `exe_${status}`, from: [status], to, at })).rejects.toSatisfy((error: unknown) =>
          FishError.hasCode(error, FishErrorCode.STATE_TRANSITION_ILLEGAL),
        );
        refused++;
      }
      expect((await audit.getExecution(`exe_${status}`))?.status).toBe(status);
      // A second execution for the same proposal is refused by the store.
      expect(
        await audit.insertExecution({ id: `exe_${status}_2`, proposalId, patternId: 'stack-down', targetHost: 'penny', status: 'pending', dryRun: false, createdAt: at, updatedAt: at, steps: [] }),
      ).toBe(false);
    }
    const expected = executionStatuses.reduce((sum, status) => sum + executionStatuses.length - EXECUTION_TRANSITIONS[status].length, 0);
    expect(refused).toBe(expected);
    expect((await audit.history()).filter((entry) => entry.action === 'transition-refused')).toHaveLength(expected);
  });
});

describe('FishEngine: approval tokens through decide()', () => {
  it('answers forged (403), truncated (400), wrong route (400), replay (409) and deny-after-approve (409)', async () => {
    const h = await harness();
    await h.fire('stack down');
    const { notice, approve, deny } = h.lastProposal();
    const forged = `${approve.slice(0, -2)}${approve.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await h.engine.decide(forged, 'approve', 'mallory')).toMatchObject({ ok: false, status: 'invalid', reason: 'bad-signature' });
    expect(await h.engine.decide(approve.slice(0, 30), 'approve', 'mallory')).toMatchObject({ ok: false, status: 'invalid', reason: 'malformed' });
    const otherKey = new ApprovalSigner('another-secret-0123456789abcdefghij').sign(notice.proposalId, 'approve', h.clock.now() + 60_000);
    expect(await h.engine.decide(otherKey, 'approve', 'mallory')).toMatchObject({ ok: false, status: 'invalid', reason: 'bad-signature' });
    expect(await h.engine.decide(approve, 'deny', 'mallory')).toMatchObject({ ok: false, status: 'wrong-decision' });
    expect((await h.audit.getProposal(notice.proposalId))?.status).toBe('proposed');

    h.clock.advance(5 * 60_000);
    expect(await h.engine.decide(approve, 'approve', 'alice')).toMatchObject({ ok: true, status: 'approved' });
    const replay = await h.engine.decide(approve, 'approve', 'alice');
    expect(replay).toMatchObject({ ok: false, status: 'already-decided', message: 'already approved at 09:35 UTC by alice' });
    const denyAfter = await h.engine.decide(deny, 'deny', 'bob');
    expect(denyAfter).toMatchObject({ ok: false, status: 'already-decided', message: 'already approved at 09:35 UTC by alice' });
    await h.engine.idle();
    expect((await h.runs()).filter((line) => line.startsWith('run '))).toHaveLength(1);
    const decision = (await h.audit.history({ entityId: notice.proposalId })).find((entry) => entry.action === 'approved');
    expect(decision?.data['tokenId']).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('a token for one proposal never decides another', async () => {
    const h = await harness();
    await h.fire('stack down');
    const first = h.lastProposal();
    await h.fire('fix fails');
    const second = h.lastProposal();
    expect(second.notice.proposalId).not.toBe(first.notice.proposalId);
    await h.engine.decide(first.approve, 'approve', 'alice');
    await h.engine.idle();
    expect((await h.audit.getProposal(second.notice.proposalId))?.status).toBe('proposed');
    expect(await h.audit.getExecutionByProposal(second.notice.proposalId)).toBeUndefined();
    expect(await h.engine.decide(first.deny, 'deny', 'alice')).toMatchObject({ status: 'already-decided' });
    expect((await h.audit.getProposal(second.notice.proposalId))?.status).toBe('proposed');
  });

  it('100 concurrent approvals with the same token execute exactly once', async () => {
    const h = await harness();
    await h.fire('stack down');
    const { notice, approve } = h.lastProposal();
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => h.engine.decide(approve, 'approve', `clicker-${i}`)));
    await h.engine.idle();
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(1);
    expect(outcomes.filter((outcome) => !outcome.ok && outcome.status === 'already-decided')).toHaveLength(99);
    expect(await h.runs()).toEqual(['run stack-down fix.sh', 'verify stack-down verify.sh']);
    expect((await h.audit.listExecutions()).filter((execution) => execution.proposalId === notice.proposalId)).toHaveLength(1);
    expect(h.engine.stats().executions).toBe(1);
  });
});

describe('FishEngine: restart recovery', () => {
  it('escalates an execution left running, without re-running it; runs an approved proposal that never started, once', async () => {
    const first = await harness();
    await first.fire('stack down');
    const left = first.lastProposal();
    await first.fire('fix fails');
    const approvedOnly = first.lastProposal();
    const at = () => new Date(first.clock.now()).toISOString();
    // Simulate a crash: the first proposal was approved and its fix was running; the second was
    // approved but its execution never started.
    await first.audit.transitionProposal({ id: left.notice.proposalId, from: 'proposed', to: 'approved', at: at(), actor: 'alice' });
    await first.audit.insertExecution({
      id: 'exe_crashed',
      proposalId: left.notice.proposalId,
      patternId: 'stack-down',
      targetHost: 'penny',
      status: 'pending',
      dryRun: false,
      createdAt: at(),
      updatedAt: at(),
      steps: [],
    });
    await first.audit.transitionExecution({ id: 'exe_crashed', from: ['pending'], to: 'running', at: at() });
    await first.audit.transitionProposal({ id: approvedOnly.notice.proposalId, from: 'proposed', to: 'approved', at: at(), actor: 'alice' });

    const second = await harness({}, { audit: first.audit, dirs: first.dirs, clock: first.clock });
    await second.engine.start();
    await second.engine.idle();
    await second.engine.stop();

    expect(await historyOf(first.audit, 'exe_crashed')).toEqual(['execution:pending', 'execution:running', 'execution:interrupted', 'execution:escalated']);
    const escalation = notifies(second).find((message) => message.kind === 'escalation');
    expect(escalation?.body).toContain('was NOT re-run');
    const runs = await second.runs();
    expect(runs.filter((line) => line.includes('stack-down'))).toEqual([]);
    expect(runs.filter((line) => line.startsWith('run fix-fails'))).toHaveLength(1);
    expect((await first.audit.getExecutionByProposal(approvedOnly.notice.proposalId))?.status).toBe('rolled_back');

    // A third start finds nothing left to do.
    const third = await harness({}, { audit: first.audit, dirs: first.dirs, clock: first.clock });
    await third.engine.start();
    await third.engine.idle();
    await third.engine.stop();
    expect(await third.runs()).toEqual(runs);
    expect(notifies(third)).toEqual([]);
  });
});

describe('FishEngine: an unattended run whose Deny window a restart cut', () => {
  async function announcedThenStopped() {
    const first = await harness({ autoExec: true, autoExecDenyWindowMs: 60_000 });
    await first.engine.start();
    await earnTwoSuccesses(first);
    const proposedBefore = first.notifier.sent.filter((item) => item.type === 'propose').length;
    const ingested = first.engine.ingest(logEvent({ message: 'earned auto', time: first.clock.now() }));
    let announced: ProposalRecord | undefined;
    for (let attempt = 0; attempt < 200 && announced?.notificationId === undefined; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (first.notifier.sent.filter((item) => item.type === 'propose').length > proposedBefore) [announced] = await first.audit.listProposals({ limit: 1 });
    }
    await ingested;
    // fish stops inside the 60 s window: nothing ran, nobody denied.
    await first.engine.stop();
    expect(announced).toMatchObject({ autoExec: true, status: 'proposed' });
    expect(announced!.notificationId).toBeDefined();
    expect((await first.runs()).filter((line) => line.startsWith('run '))).toHaveLength(2);
    return { first, proposal: announced! };
  }

  async function earnTwoSuccesses(h: Harness) {
    for (let i = 0; i < 2; i++) {
      await h.fire('earned auto');
      await h.engine.decide(h.lastProposal().approve, 'approve', 'alice');
      await h.engine.idle();
      h.clock.advance(120_000);
    }
  }

  it('is announced again after the restart with a fresh Deny window, recorded, and runs when nobody denies', async () => {
    const { first, proposal } = await announcedThenStopped();
    const second = await harness({ autoExec: true, autoExecDenyWindowMs: 100 }, { audit: first.audit, dirs: first.dirs, clock: first.clock });
    await second.engine.start();
    await second.engine.idle();
    await second.engine.stop();
    expect(second.lastProposal().notice.proposalId).toBe(proposal.id);
    expect(second.lastProposal().notice.summary).toMatch(/Runs by itself.*unless you tap Deny/);
    const system = (await first.audit.history()).filter((entry) => entry.entity === 'system' && entry.action === 'auto-exec-reannounced');
    expect(system.map((entry) => entry.data)).toEqual([
      { proposalId: proposal.id, windowMs: 100, reason: expect.stringMatching(/^re-announced after restart: the 100ms Deny window announced at .* was cut by the restart/) },
    ]);
    const approval = (await first.audit.history({ entityId: proposal.id })).find((entry) => entry.action === 'approved');
    expect(approval).toMatchObject({ data: { actor: 'auto-exec', reason: expect.stringMatching(/re-announced after restart.*announced 100ms before, no deny/) } });
    expect((await first.audit.getExecutionByProposal(proposal.id))?.status).toBe('succeeded');
    expect((await second.runs()).filter((line) => line.startsWith('run '))).toHaveLength(3);
  });

  it('a Deny tapped in the new window cancels it', async () => {
    const { first, proposal } = await announcedThenStopped();
    const second = await harness({ autoExec: true, autoExecDenyWindowMs: 5_000 }, { audit: first.audit, dirs: first.dirs, clock: first.clock });
    const starting = second.engine.start();
    for (let attempt = 0; attempt < 200 && !second.notifier.sent.some((item) => item.type === 'propose'); attempt++) await new Promise((resolve) => setTimeout(resolve, 5));
    await starting;
    expect(await second.engine.decide(second.lastProposal().deny, 'deny', 'alice')).toMatchObject({ ok: true, status: 'denied' });
    await second.engine.stop();
    expect((await first.audit.getProposal(proposal.id))?.status).toBe('denied');
    expect(await first.audit.getExecutionByProposal(proposal.id)).toBeUndefined();
    expect((await second.runs()).filter((line) => line.startsWith('run '))).toHaveLength(2);
  });

  it('is not run by itself once approval.resumeWindow has passed: expired with the reason, and escalated', async () => {
    const { first, proposal } = await announcedThenStopped();
    first.clock.advance(60_000 + 300_001);
    const second = await harness({ autoExec: true, autoExecDenyWindowMs: 60_000 }, { audit: first.audit, dirs: first.dirs, clock: first.clock });
    await second.engine.start();
    await second.engine.idle();
    await second.engine.stop();
    expect(await first.audit.getProposal(proposal.id)).toMatchObject({ status: 'expired' });
    const expiry = (await first.audit.history({ entityId: proposal.id })).find((entry) => entry.action === 'expired');
    expect(expiry?.data['actor']).toBe('system');
    expect(expiry?.data['reason']).toMatch(/^auto-exec-expired-after-restart: its Deny window ended 5m\S* before this restart/);
    expect(notifies(second).find((message) => message.kind === 'escalation')?.body).toMatch(/announced to run by itself, but fish stopped before its Deny window ended.*It was NOT run/);
    expect(second.notifier.sent.some((item) => item.type === 'propose')).toBe(false);
    expect(await first.audit.getExecutionByProposal(proposal.id)).toBeUndefined();
    expect((await second.runs()).filter((line) => line.startsWith('run '))).toHaveLength(2);
  });
});

describe('FishEngine: metrics and execution ownership', () => {
  it('a metric signal with `for` fires on the first observation the source reports as held that long, without waiting again', async () => {
    const h = await harness();
    // What source-prom emits: one event per episode, saying how long the condition has held.
    const sample = (value: number, heldForMs: number, labels: Record<string, string> = { mount: '/' }) =>
      h.engine.ingest({
        id: `m-${h.clock.now()}-${value}-${labels['mount']}`,
        kind: 'metric',
        source: 'prom',
        time: h.clock.now(),
        host: 'penny',
        service: 'node',
        level: 'info',
        message: `disk ${value}`,
        labels,
        metric: { name: 'disk_used_percent', value, heldForMs },
      });
    await sample(95, 60_000); // held 1 minute of the 2 asked
    await sample(80, 300_000); // below the threshold, however long
    await h.engine.idle();
    expect(await h.audit.listProposals()).toEqual([]);
    h.clock.advance(60_000);
    await sample(97, 120_000);
    await h.engine.idle();
    expect((await h.audit.listProposals()).map((proposal) => proposal.patternId)).toEqual(['disk-filling']);
    expect(h.lastProposal().notice.evidence.join('\n')).toContain('disk_used_percent = 97');
  });

  it('stops at once when another instance took the execution over (marked interrupted) mid-run', async () => {
    const h = await harness();
    await h.fire('slow fix');
    const { notice, approve } = h.lastProposal();
    h.engine.on('execution', (record) => {
      // What a recovering peer sharing the store would do.
      if (record.status === 'running') void h.audit.transitionExecution({ id: record.id, from: ['running'], to: 'interrupted', at: new Date(h.clock.now()).toISOString() });
    });
    await h.engine.decide(approve, 'approve', 'alice');
    await h.engine.idle();
    expect(await h.runs()).toEqual(['run slow-fix slow.sh']);
    expect((await h.audit.getExecutionByProposal(notice.proposalId))?.status).toBe('interrupted');
  });
});

describe('FishEngine: audit first, then the side effect', () => {
  it('the proposal row exists before the notification, and the execution says running before the script runs', async () => {
    const dirs = await setup();
    const audit = createMemoryAuditStore();
    const seenAtPropose: Array<string | undefined> = [];
    const seenAtRun: Array<string | undefined> = [];
    const notifier = recordingNotifier();
    const propose = notifier.propose.bind(notifier);
    notifier.propose = async (notice, actions) => {
      seenAtPropose.push((await audit.getProposal(notice.proposalId))?.status);
      return propose(notice, actions);
    };
    const local = createLocalExecutor({ scriptsDir: dirs.scriptsDir, sandboxDir: dirs.sandboxDir, hosts: ['penny'] });
    const h = await harness(
      {
        notifier,
        executor: {
          ...local,
          async run(request) {
            const [execution] = await audit.listExecutions({ limit: 1 });
            seenAtRun.push(`${request.verb}:${execution?.status}`);
            return local.run(request);
          },
        },
      },
      { audit, dirs },
    );
    await h.fire('stack down');
    const sent = notifier.sent.find((item) => item.type === 'propose');
    const approveUrl = sent?.type === 'propose' ? sent.actions.approveUrl : '';
    await h.engine.decide(approveUrl.slice(approveUrl.lastIndexOf('/') + 1), 'approve', 'alice');
    await h.engine.idle();
    expect(seenAtPropose).toEqual(['proposed']);
    expect(seenAtRun).toEqual(['run:running', 'verify:verifying']);
  });

  it('a pattern without a fix escalates with its diagnosis and proposes nothing', async () => {
    const h = await harness();
    await h.fire('raid degraded');
    expect(await h.audit.listProposals()).toEqual([]);
    const [message] = notifies(h);
    expect(message).toMatchObject({ kind: 'escalation', priority: 'urgent' });
    expect(message!.body).toContain('Replace the failed disk');
  });

  it('picks up a reloaded catalog on the next event', async () => {
    const dirs = await setup();
    let catalog: CatalogSnapshot = { patterns: [PATTERNS[0]!], scriptsDir: dirs.scriptsDir, loadedFrom: dirs.root, loadedAt: 0, digest: 'a' };
    const h = await harness({ catalog: () => catalog }, { dirs });
    await h.fire('fix fails');
    expect(await h.audit.listProposals()).toEqual([]);
    catalog = { ...catalog, patterns: PATTERNS, digest: 'b' };
    await h.fire('fix fails');
    expect((await h.audit.listProposals()).map((proposal) => proposal.patternId)).toEqual(['fix-fails']);
  });

  it("a later incident's evidence holds only lines from its own window", async () => {
    const h = await harness();
    await h.fire('stack down: first time');
    h.clock.advance(2 * 3_600_000); // past the cooldown (30 min) and the window (5 min)
    await h.fire('stack down: second time');
    const evidence = h.lastProposal().notice.evidence;
    expect(evidence.join('\n')).toContain('second time');
    expect(evidence.join('\n')).not.toContain('first time');
    const [incident] = await h.audit.listIncidents({ limit: 1 });
    expect(incident!.evidence).toHaveLength(1);

    await h.fire('kernel panic long ago', { service: 'mystery' });
    h.clock.advance(2 * 3_600_000);
    for (let i = 0; i < 3; i++) await h.fire(`kernel panic now ${i}`, { service: 'mystery' });
    const [unknown] = await h.audit.listIncidents({ limit: 1 });
    expect(unknown).toMatchObject({ patternId: 'UNKNOWN', service: 'mystery' });
    expect(unknown!.evidence).toHaveLength(3);
    expect(unknown!.evidence.join('\n')).not.toContain('long ago');
  });

  it('answers 404 for a validly signed token whose proposal does not exist', async () => {
    const h = await harness();
    const token = new ApprovalSigner(SECRET).sign('prop_missing', 'approve', h.clock.now() + 60_000);
    expect(await h.engine.decide(token, 'approve', 'alice')).toMatchObject({ ok: false, status: 'not-found' });
  });
});

describe('FishEngine: safety', () => {
  it('dry-run goes through everything but runs no script', async () => {
    const h = await harness({ dryRun: true });
    await h.fire('stack down');
    const { notice, approve } = h.lastProposal();
    expect(notice.dryRun).toBe(true);
    await h.engine.decide(approve, 'approve', 'alice');
    await h.engine.idle();
    const execution = await h.audit.getExecutionByProposal(notice.proposalId);
    expect(execution).toMatchObject({ status: 'succeeded', dryRun: true });
    expect(execution!.steps.every((step) => step.dryRun)).toBe(true);
    expect(await h.runs()).toEqual([]);
    await expect(readdir(h.dirs.sandboxDir)).resolves.toEqual([]);
  });

  it('$event_host resolves only to configured targets', async () => {
    const h = await harness();
    await h.fire('on its host', { host: 'leonard' });
    expect(h.lastProposal().notice.host).toBe('leonard');
    const proposalsBefore = (await h.audit.listProposals()).length;
    await h.fire('on its host', { host: 'evil.example; rm -rf /' });
    expect((await h.audit.listProposals()).length).toBe(proposalsBefore);
    const escalation = notifies(h).find((message) => message.title.includes('no fix target'));
    expect(escalation?.body).toContain('is not a configured executor target');
  });

  it('a flood of identical events yields one proposal (cooldown), and rate limiting caps a pattern without cooldown', async () => {
    const h = await harness({ rateLimit: { burst: 3, perMinute: 1 } });
    for (let i = 0; i < 500; i++) h.engine.ingest(logEvent({ message: 'stack down', time: h.clock.now() + i }));
    await h.engine.idle();
    expect((await h.audit.listProposals()).filter((proposal) => proposal.patternId === 'stack-down')).toHaveLength(1);
    expect(h.engine.stats().suppressedByCooldown).toBe(499);

    for (let i = 0; i < 500; i++) h.engine.ingest(logEvent({ message: 'flood', service: 'flooder', time: h.clock.now() + i }));
    await h.engine.idle();
    expect((await h.audit.listProposals({ limit: 1000 })).filter((proposal) => proposal.patternId === 'no-cooldown')).toHaveLength(3);
    expect(h.engine.stats().rateLimited).toBe(497);
    // A minute later the bucket has one more token.
    h.clock.advance(60_000);
    await h.fire('flood', { service: 'flooder', time: h.clock.now() + 500 });
    expect((await h.audit.listProposals({ limit: 1000 })).filter((proposal) => proposal.patternId === 'no-cooldown')).toHaveLength(4);
  });

  it('writes a bundle for an unknown severe incident and notifies', async () => {
    const h = await harness();
    for (let i = 0; i < 2; i++) await h.fire(`segfault in worker ${i}`, { service: 'mystery' });
    expect(h.bundles.bundles).toEqual([]);
    await h.fire('info lines do not count', { service: 'mystery', level: 'info' });
    await h.fire('segfault in worker 3', { service: 'mystery' });
    expect(h.bundles.bundles).toHaveLength(1);
    const bundle = h.bundles.bundles[0]!;
    expect(bundle.incident).toMatchObject({ patternId: 'UNKNOWN', host: 'penny', service: 'mystery' });
    expect(bundle.evidence).toHaveLength(3);
    expect(bundle.evidence.join('\n')).not.toContain('info lines');
    const message = notifies(h).find((item) => item.kind === 'unknown-incident');
    expect(message?.body).toContain(`memory:${bundle.incident.id}`);
    expect(h.engine.stats().unknownIncidents).toBe(1);
  });

  it('still notifies an unknown incident when its bundle cannot be written', async () => {
    const h = await harness({
      unknown: { count: 1 },
      unknownBundles: {
        writeBundle: async () => {
          throw new Error('EROFS: read-only file system');
        },
      },
    });
    await h.fire('segfault', { service: 'mystery' });
    const message = notifies(h).find((item) => item.kind === 'unknown-incident');
    expect(message?.body).toContain('not written (EROFS: read-only file system)');
    expect(h.engine.stats().errors).toBe(1);
  });

  it('notifies an unknown incident without a bundle writer, saying so', async () => {
    const h = await harness({ unknown: { count: 1 }, unknownBundles: undefined });
    await h.fire('segfault', { service: 'mystery' });
    expect(notifies(h).find((item) => item.kind === 'unknown-incident')?.body).toContain('Bundle: not written (no incidents folder configured)');
  });

  it('counts a bad event and keeps the loop going', async () => {
    const events: unknown[] = [
      { id: 'bad-1', kind: 'log', source: 's', time: 0 }, // no message, host, labels ...
      Object.defineProperty({ kind: 'log', source: 's', time: 0, host: 'penny', service: 'homepage', level: 'error', message: 'stack down', labels: {} }, 'id', {
        get() {
          throw new Error('hostile getter');
        },
        enumerable: true,
      }),
      null,
      logEvent({ message: 'stack down' }),
    ];
    const source: Source = {
      specificationVersion: 'v1',
      name: 'scripted',
      async *events() {
        for (const event of events) yield event as ObservedEvent;
      },
    };
    const h = await harness({ sources: [source] });
    const errors: Error[] = [];
    h.engine.on('error', (error) => errors.push(error));
    await h.engine.start();
    for (let i = 0; i < 200 && h.engine.stats().events < events.length; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    await h.engine.idle();
    expect((await h.audit.listProposals()).map((proposal) => proposal.patternId)).toEqual(['stack-down']);
    await h.engine.stop();
    expect(h.engine.stats().errors).toBe(3);
    expect(errors.every((error) => FishError.hasCode(error, FishErrorCode.EVENT_INVALID))).toBe(true);
    expect((await h.audit.listIncidents()).map((incident) => incident.host)).toEqual(['penny']);
  });

  it('can be stopped and started again, and still processes events', async () => {
    let round = 0;
    const source: Source = {
      specificationVersion: 'v1',
      name: 'rounds',
      async *events() {
        round++;
        yield logEvent({ message: round === 1 ? 'stack down' : 'fix fails' });
      },
    };
    const h = await harness({ sources: [source] });
    const waitFor = async (count: number) => {
      for (let i = 0; i < 200 && (await h.audit.listProposals()).length < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    await h.engine.start();
    await waitFor(1);
    await h.engine.stop();
    await h.engine.start();
    await waitFor(2);
    await h.engine.stop();
    expect((await h.audit.listProposals()).map((proposal) => proposal.patternId).sort()).toEqual(['fix-fails', 'stack-down']);
  });

  it('never lets a secret from a log line reach the notifier or the audit trail', async () => {
    const h = await harness();
    const secrets = ['hunter2-pa55', 'abcdefghijklmnop0123', 'sk-ant-api03-SECRETSECRETSECRET'];
    await h.fire(`stack down: login failed password=${secrets[0]} Authorization: Bearer ${secrets[1]} key ${secrets[2]}`);
    for (let i = 0; i < 3; i++) await h.fire(`panic: db auth failed password=${secrets[0]} retry ${i}`, { service: 'db' });
    await h.engine.decide(h.lastProposal().approve, 'approve', 'alice');
    await h.engine.idle();
    const everything = JSON.stringify([
      h.notifier.sent,
      await h.audit.listIncidents(),
      await h.audit.listProposals(),
      await h.audit.listExecutions(),
      await h.audit.listNotifications(),
      await h.audit.history(),
    ]);
    const bundles = h.bundles.bundles.map((bundle) => JSON.stringify(bundle));
    expect(bundles).toHaveLength(1);
    expect(everything).toContain('stack down: login failed password=[REDACTED]');
    for (const secret of secrets) {
      expect(everything).not.toContain(secret);
      expect(bundles.join('\n')).not.toContain(secret);
    }
  });
});
