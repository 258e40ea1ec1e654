import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../approval/approval-token.js';
import { createLocalExecutor } from '../builtins/local-executor.js';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import type { CatalogSnapshot } from '../catalog/catalog-schema.js';
import type { AuditStore } from '../contracts/audit-store.js';
import type { NotificationReceipt, Notifier, ProposalActions, ProposalNotice } from '../contracts/notifier.js';
import type { ProposalRecord } from '../contracts/records.js';
import { logEvent, makePattern } from '../test-support/fixtures.js';
import { ManualClock, toIso } from '../util/clock.js';
import { FishEngine, type FishEngineOptions } from './engine.js';

/*
 * An auto-exec proposal is either announced ("runs by itself ... unless you tap Deny", then run
 * after the Deny window) or, when that announcement was not delivered, a proposal that waits for
 * an approval. Whatever the notifier does (fails, recovers late, is slow at the end of the
 * window, fish restarts), every proposal message the human receives must say which one it is.
 */

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

const RUNS_BY_ITSELF = /Runs by itself/;
const NEEDS_APPROVAL = /Needs your approval.*does not run by itself.*Tap Approve to run it, or Deny/s;

/** A phone as the human sees it: what it received; `down` fails every call, `gate` holds a proposal until it opens. */
function phone(): Notifier & {
  received: Array<{ notice: ProposalNotice; actions: ProposalActions }>;
  down: boolean;
  gate: { opened: Promise<boolean>; open: (ok: boolean) => void } | undefined;
  calls: number;
} {
  let n = 0;
  const receipt = (): NotificationReceipt => ({ id: `r${++n}`, channel: 'phone' });
  const notifier = {
    specificationVersion: 'v1' as const,
    name: 'phone',
    received: [] as Array<{ notice: ProposalNotice; actions: ProposalActions }>,
    down: false,
    gate: undefined as { opened: Promise<boolean>; open: (ok: boolean) => void } | undefined,
    calls: 0,
    async propose(notice: ProposalNotice, actions: ProposalActions) {
      notifier.calls++;
      if (notifier.gate && !(await notifier.gate.opened)) throw new Error('ntfy answered 502 after a slow attempt');
      if (notifier.down) throw new Error('ntfy answered 502');
      notifier.received.push({ notice, actions });
      return receipt();
    },
    async notify() {
      if (notifier.down) throw new Error('ntfy answered 502');
      return receipt();
    },
  };
  return notifier;
}

function gate(): { opened: Promise<boolean>; open: (ok: boolean) => void } {
  let open!: (ok: boolean) => void;
  const opened = new Promise<boolean>((resolve) => (open = resolve));
  return { opened, open };
}

async function sandbox() {
  const root = await mkdtemp(join(tmpdir(), 'fish-auto-exec-'));
  roots.push(root);
  const scriptsDir = join(root, 'scripts');
  const sandboxDir = join(root, 'sandbox');
  await mkdir(scriptsDir);
  await mkdir(sandboxDir);
  for (const [name, body] of Object.entries({ 'fix.sh': 'echo "run $FISH_PATTERN_ID" >> runs.log\necho fixed > state', 'verify.sh': 'grep -q fixed state' })) {
    await writeFile(join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(scriptsDir, name), 0o755);
  }
  return { scriptsDir, sandboxDir };
}

const EARNED = makePattern({
  id: 'earned',
  required_signals: [{ id: 'line', log: { message: 'earned auto', level: ['error'] } }],
  promote_to_autoexec_after: 2,
  cooldown: '1s',
  samples: { match: ['earned auto'] },
});

type Shared = { audit: AuditStore; clock: ManualClock; dirs: Awaited<ReturnType<typeof sandbox>> };

async function harness(overrides: Partial<FishEngineOptions>, shared?: Shared) {
  const dirs = shared?.dirs ?? (await sandbox());
  const audit = shared?.audit ?? createMemoryAuditStore();
  const clock = shared?.clock ?? new ManualClock(Date.UTC(2026, 0, 1, 9, 30));
  const notifier = phone();
  const catalog: CatalogSnapshot = { patterns: [EARNED], scriptsDir: dirs.scriptsDir, loadedFrom: dirs.scriptsDir, loadedAt: clock.now(), digest: 'x' };
  const engine = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit,
    notifier,
    executor: createLocalExecutor({ scriptsDir: dirs.scriptsDir, sandboxDir: dirs.sandboxDir, hosts: ['penny'] }),
    signer: new ApprovalSigner('auto-exec-test-secret-0123456789abcdef'),
    publicUrl: 'https://fish.example.test/',
    clock,
    autoExec: true,
    outbox: { pollMs: 10, retryInitialMs: 10, retryMaxMs: 10 },
    ...overrides,
  });
  const token = (url: string) => url.slice(url.lastIndexOf('/') + 1);
  return {
    engine,
    audit,
    clock,
    dirs,
    notifier,
    shared: { audit, clock, dirs } as Shared,
    /** Two approved, verified runs: the pattern has earned running by itself on penny. */
    async earn() {
      for (let i = 0; i < 2; i++) {
        const before = notifier.received.length;
        await engine.ingest(logEvent({ message: 'earned auto', time: clock.now() }));
        await engine.idle();
        const sent = notifier.received.slice(before).at(-1)!;
        await engine.decide(token(sent.actions.approveUrl), 'approve', 'alice');
        await engine.idle();
        clock.advance(120_000);
      }
    },
    /** What the phone received about one proposal. */
    about(proposalId: string) {
      return notifier.received.filter((item) => item.notice.proposalId === proposalId);
    },
    approveToken: (item: { actions: ProposalActions }) => token(item.actions.approveUrl),
    async runs() {
      return (await readFile(join(dirs.sandboxDir, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    },
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function systemEvents(audit: AuditStore, action: string) {
  return (await audit.history()).filter((entry) => entry.entity === 'system' && entry.action === action).map((entry) => entry.data);
}

/**
 * An earned auto-exec proposal (50 ms Deny window) whose first announcement fails; its retry
 * starts, and the phone holds it (`h.notifier.gate`) until the window is over.
 */
async function announcementHeldPastWindow() {
  const h = await harness({ autoExecDenyWindowMs: 50 });
  await h.engine.start();
  await h.earn();
  h.notifier.down = true;
  await h.engine.ingest(logEvent({ message: 'earned auto', time: h.clock.now() }));
  const [proposal] = await h.audit.listProposals({ limit: 1 });
  h.notifier.down = false;
  h.notifier.gate = gate();
  const callsBefore = h.notifier.calls;
  h.clock.advance(20);
  await until(() => h.notifier.calls > callsBefore, 'the retry');
  await new Promise((resolve) => setTimeout(resolve, 120));
  return { h, proposal };
}

describe('auto-exec announcement: what the human receives is what happens', () => {
  it('an announcement delivered only after the Deny window ended reads as a proposal to approve, and runs only once approved', async () => {
    const h = await harness({ autoExecDenyWindowMs: 50 });
    await h.engine.start();
    await h.earn();
    h.notifier.down = true;
    await h.engine.ingest(logEvent({ message: 'earned auto', time: h.clock.now() }));
    await h.engine.idle(); // the Deny window (50 ms) ended with the announcement undelivered
    const [proposal] = await h.audit.listProposals({ limit: 1 });
    expect(proposal).toMatchObject({ autoExec: true, status: 'proposed' });

    // The notifier recovers; the outbox delivers what it holds.
    h.notifier.down = false;
    h.clock.advance(1_000);
    await until(() => h.about(proposal!.id).length > 0, 'the late proposal');
    await new Promise((resolve) => setTimeout(resolve, 60)); // a few more polls: nothing else arrives
    const received = h.about(proposal!.id);
    expect(received).toHaveLength(1);
    expect(received[0]!.notice.summary).not.toMatch(RUNS_BY_ITSELF);
    expect(received[0]!.notice.summary).toMatch(NEEDS_APPROVAL);
    expect(received[0]!.notice.summary).toMatch(/could not be delivered within the 50ms Deny window/);
    expect(await systemEvents(h.audit, 'auto-exec-not-announced')).toEqual([{ proposalId: proposal!.id, reason: expect.stringMatching(/could not be delivered within the 50ms Deny window/) }]);
    expect(await h.runs()).toHaveLength(2);
    expect(await h.audit.getExecutionByProposal(proposal!.id)).toBeUndefined();

    expect(await h.engine.decide(h.approveToken(received[0]!), 'approve', 'alice')).toMatchObject({ ok: true, status: 'approved' });
    await h.engine.idle();
    await h.engine.stop();
    expect(await h.audit.getProposal(proposal!.id)).toMatchObject({ status: 'approved', decidedBy: 'alice' });
    expect(await h.runs()).toHaveLength(3);
  });

  it('an announcement still being sent when the window ends is waited for: delivered, the fix runs by itself as it said', async () => {
    const { h, proposal } = await announcementHeldPastWindow();
    expect(await h.audit.getProposal(proposal!.id)).toMatchObject({ status: 'proposed' });
    h.notifier.gate!.open(true);
    await h.engine.idle();
    await h.engine.stop();
    expect(await h.audit.getProposal(proposal!.id)).toMatchObject({ status: 'approved', decidedBy: 'auto-exec' });
    expect(await h.runs()).toHaveLength(3);
    const received = h.about(proposal!.id);
    expect(received.map((item) => item.notice.summary)).toEqual([expect.stringMatching(/Runs by itself.*50ms after this message unless you tap Deny/)]);
    expect(await systemEvents(h.audit, 'auto-exec-not-announced')).toEqual([]);
  });

  it('an announcement whose slow send fails at the end of the window is replaced by an approval request, never sent as "runs by itself"', async () => {
    const { h, proposal } = await announcementHeldPastWindow();
    const slow = h.notifier.gate!;
    h.notifier.gate = undefined;
    slow.open(false);
    h.clock.advance(1_000);
    await until(() => h.about(proposal!.id).length > 0, 'the approval request');
    await h.engine.stop();
    const received = h.about(proposal!.id);
    expect(received.map((item) => item.notice.summary)).toEqual([expect.stringMatching(NEEDS_APPROVAL)]);
    expect(await h.audit.getProposal(proposal!.id)).toMatchObject({ status: 'proposed' });
    expect(await h.runs()).toHaveLength(2);
  });
});

describe('auto-exec announcement across a restart', () => {
  it('an announcement never delivered before fish stopped is sent after the restart as a proposal to approve', async () => {
    const first = await harness({ autoExecDenyWindowMs: 60_000 });
    await first.engine.start();
    await first.earn();
    first.notifier.down = true;
    await first.engine.ingest(logEvent({ message: 'earned auto', time: first.clock.now() }));
    const [proposal] = await first.audit.listProposals({ limit: 1 });
    await first.engine.stop(); // inside the 60 s window, announcement undelivered
    expect(first.about(proposal!.id)).toEqual([]);

    const second = await harness({ autoExecDenyWindowMs: 60_000 }, first.shared);
    await second.engine.start();
    await until(() => second.about(proposal!.id).length > 0, 'the proposal after the restart');
    await new Promise((resolve) => setTimeout(resolve, 60));
    const received = second.about(proposal!.id);
    expect(received).toHaveLength(1);
    expect(received[0]!.notice.summary).not.toMatch(RUNS_BY_ITSELF);
    expect(received[0]!.notice.summary).toMatch(/Needs your approval.*fish stopped before its announcement was delivered/s);
    expect(received[0]!.actions.approveUrl).toMatch(/\/approve\//);
    expect(received[0]!.actions.denyUrl).toMatch(/\/deny\//);
    expect(await systemEvents(first.audit, 'auto-exec-not-announced')).toEqual([{ proposalId: proposal!.id, reason: 'fish stopped before its announcement was delivered' }]);
    expect(await second.engine.decide(second.approveToken(received[0]!), 'approve', 'alice')).toMatchObject({ ok: true, status: 'approved' });
    await second.engine.idle();
    await second.engine.stop();
    expect(await second.runs()).toHaveLength(3);
  });

  it('an auto-exec proposal written just before a crash (nothing in the outbox) is sent after the restart as a proposal to approve', async () => {
    const first = await harness({ autoExecDenyWindowMs: 60_000 });
    const at = first.clock.now();
    await first.audit.insertIncident({
      id: 'inc_crash',
      fingerprint: 'fp_crash',
      host: 'penny',
      service: 'homepage',
      patternId: 'earned',
      candidates: ['earned'],
      confidence: 1,
      method: 'deterministic',
      reason: 'test',
      evidence: ['earned auto'],
      eventCount: 1,
      firstSeen: toIso(at),
      lastSeen: toIso(at),
      createdAt: toIso(at),
    });
    const proposal: ProposalRecord = {
      id: 'prop_crash',
      incidentId: 'inc_crash',
      patternId: 'earned',
      targetHost: 'penny',
      service: 'homepage',
      confidence: 1,
      status: 'proposed',
      dryRun: false,
      autoExec: true,
      createdAt: toIso(at),
      expiresAt: toIso(at + 3_600_000),
    };
    await first.audit.insertProposal(proposal);
    await first.engine.start();
    await until(() => first.about(proposal.id).length > 0, 'the proposal after the restart');
    await first.engine.stop();
    expect(first.about(proposal.id).map((item) => item.notice.summary)).toEqual([expect.stringMatching(NEEDS_APPROVAL)]);
    expect(await first.audit.getProposal(proposal.id)).toMatchObject({ status: 'proposed' });
  });

  it('an announced run that no longer earned auto-exec at the restart: the human is asked for an approval, saying why', async () => {
    const first = await harness({ autoExecDenyWindowMs: 60_000 });
    await first.engine.start();
    await first.earn();
    await first.engine.ingest(logEvent({ message: 'earned auto', time: first.clock.now() }));
    const [proposal] = await first.audit.listProposals({ limit: 1 });
    await first.engine.stop();
    expect(first.about(proposal!.id).map((item) => item.notice.summary)).toEqual([expect.stringMatching(/Runs by itself.*1m after this message unless you tap Deny/)]);

    const second = await harness({ autoExecDenyWindowMs: 60_000, autoExec: false }, first.shared);
    await second.engine.start();
    await until(() => second.about(proposal!.id).length > 0, 'the approval request');
    await second.engine.stop();
    expect(second.about(proposal!.id).map((item) => item.notice.summary)).toEqual([expect.stringMatching(/Needs your approval.*auto-exec is no longer earned or no longer enabled/s)]);
    expect(await second.audit.getProposal(proposal!.id)).toMatchObject({ status: 'proposed' });
    expect(await second.runs()).toHaveLength(2);
  });
});
