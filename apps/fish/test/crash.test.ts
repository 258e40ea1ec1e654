/**
 * Issue 5, "Exactly once, across crashes": the real `fish-sre run` process (apps/fish/dist/cli.js),
 * a real SQLite audit file, a followed incident file, the local executor in a sandbox, the ntfy
 * notifier talking to testkit's ntfy server (the harness plays the phone). fish is killed with
 * SIGKILL at every durable step of the loop (FISH_CRASH_AT) and by an external `kill -9` while the
 * fix runs, then restarted on the same files. The fix script appends a line per real run to a
 * counter file, so "ran twice" cannot hide.
 */
import { access } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EngineCheckpoint, ProposalRecord } from '@fish-sre/core';
import { startNtfyServer, type NtfyTestServer } from '@fish-sre/testkit';
import { CLI, disposeWorlds, killAllChildren, waitUntil, World, type FishProcess } from './crash/harness.js';
import { tokenCorpus } from './crash/tokens.js';

const SERVICE = 'web';
let ntfy: NtfyTestServer;

beforeAll(async () => {
  await access(CLI); // fails clearly when apps/fish was not built
  ntfy = await startNtfyServer({ version: '2.17.0' });
});
afterEach(killAllChildren);
afterAll(async () => {
  await disposeWorlds();
  await ntfy?.stop();
});

/** What the audit file must say right after the kill, before anything restarts. */
interface AtCrash {
  proposal: ProposalRecord['status'];
  execution: 'none' | 'pending' | 'running';
  /** Proposal notifications the phone had received. */
  notified: number;
  /** Real runs of the fix so far (a range where the kill races the spawn). */
  minRuns: number;
  maxRuns: number;
}

const CRASH_POINTS: Array<{ at: EngineCheckpoint; approveFirst: boolean; atCrash: AtCrash }> = [
  { at: 'proposal-written', approveFirst: false, atCrash: { proposal: 'proposed', execution: 'none', notified: 0, minRuns: 0, maxRuns: 0 } },
  { at: 'notification-sent', approveFirst: false, atCrash: { proposal: 'proposed', execution: 'none', notified: 1, minRuns: 0, maxRuns: 0 } },
  { at: 'decision-recorded', approveFirst: true, atCrash: { proposal: 'approved', execution: 'none', notified: 1, minRuns: 0, maxRuns: 0 } },
  { at: 'execution-written', approveFirst: true, atCrash: { proposal: 'approved', execution: 'pending', notified: 1, minRuns: 0, maxRuns: 0 } },
  // The checkpoint fires as the executor is called; the kill may land before or after the spawn.
  { at: 'remote-call-started', approveFirst: true, atCrash: { proposal: 'approved', execution: 'running', notified: 1, minRuns: 0, maxRuns: 1 } },
  { at: 'remote-call-finished', approveFirst: true, atCrash: { proposal: 'approved', execution: 'running', notified: 1, minRuns: 1, maxRuns: 1 } },
];

async function actionsOf(world: World, entityId: string): Promise<string[]> {
  return (await (await world.store()).history({ entityId })).map((entry) => entry.action);
}

/**
 * After the restart the incident file is read again from the top: that must not produce a second
 * proposal for the incident already handled. A later incident on another service, proposed and
 * delivered, is the marker that the replayed lines were processed.
 */
async function expectNoDuplicateProposal(world: World, proposalId: string): Promise<void> {
  await world.appendIncident('marker');
  const marker = await world.waitForProposal('marker');
  await world.waitForPhoneProposal(marker.id);
  expect((await world.proposals(SERVICE)).map((proposal) => proposal.id)).toEqual([proposalId]);
}

/** Graceful stop, then `fish-sre audit verify --config` on the file: the hash chain is intact. */
async function expectChainVerifies(world: World, fish: FishProcess): Promise<void> {
  expect(await fish.stop()).toEqual({ code: 0, signal: null });
  const verify = await world.cli(['audit', 'verify']);
  expect(verify.output).toMatch(/audit chain OK: \d+ rows/);
  expect(verify.exit.code).toBe(0);
}

describe('exactly once, across crashes (real fish process, SQLite audit file, ntfy)', () => {
  it.each(CRASH_POINTS)(
    'SIGKILL at $at: nothing lost, nothing run twice, chain intact',
    async ({ at, approveFirst, atCrash }) => {
      const world = await World.create(ntfy);
      const first = await world.start({ crashAt: at });
      await world.appendIncident(SERVICE);
      const written = await world.waitForProposal(SERVICE);
      if (approveFirst) {
        // The owner taps Approve on the phone; fish dies while (or right after) handling it.
        const answer = await world.tap(await world.waitForPhoneProposal(written.id), 'Approve').catch((error: unknown) => error as Error);
        if (!(answer instanceof Error)) expect(answer.status).toBe(200);
      }
      expect(await first.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' });

      // The files as the crash left them.
      expect((await world.proposal(written.id)).status).toBe(atCrash.proposal);
      const executionAtCrash = await world.execution(written.id);
      expect(executionAtCrash?.status ?? 'none').toBe(atCrash.execution);
      expect(world.phoneProposals(written.id)).toHaveLength(atCrash.notified);
      const runsAtCrash = (await world.counter()).length;
      expect(runsAtCrash).toBeGreaterThanOrEqual(atCrash.minRuns);
      expect(runsAtCrash).toBeLessThanOrEqual(atCrash.maxRuns);

      // Restart on the same files, without fault injection.
      const second = await world.start();
      if (atCrash.proposal === 'proposed') {
        // Not lost: its notification was never recorded, so fish sends it (again), and the
        // Approve button on it works and runs the fix once.
        const resent = await world.waitForPhoneProposal(written.id, atCrash.notified + 1);
        expect(await world.tap(resent, 'Approve')).toMatchObject({ status: 200, body: { ok: true, status: 'approved', proposalId: written.id } });
        const execution = await world.waitForExecution(written.id, ['succeeded']);
        expect(execution.steps.map((step) => step.verb)).toEqual(['run', 'verify']);
        expect(await world.counter()).toHaveLength(1);
        expect((await (await world.store()).history({ entityId: 'system' })).some((entry) => entry.action === 'resume-notification' && entry.data['proposalId'] === written.id)).toBe(true);
      } else if (atCrash.execution === 'none') {
        // Approved, nothing started: executed exactly once after the restart, with no new tap.
        const execution = await world.waitForExecution(written.id, ['succeeded']);
        expect(execution.steps.map((step) => step.verb)).toEqual(['run', 'verify']);
        expect(await world.counter()).toHaveLength(1);
        expect((await (await world.store()).history({ entityId: 'system' })).some((entry) => entry.action === 'resume-approved' && entry.data['proposalId'] === written.id)).toBe(true);
      } else {
        // Interrupted mid-flight: marked interrupted, escalated to a human, never re-run.
        const execution = await world.waitForExecution(written.id, ['escalated']);
        expect(execution.id).toBe(executionAtCrash!.id);
        expect(await actionsOf(world, execution.id)).toEqual(['created', ...(atCrash.execution === 'running' ? ['running'] : []), 'interrupted', 'escalated']);
        await world.waitForPhoneMessage(/^Escalation: web-down on penny$/);
        expect(await world.counter()).toHaveLength(runsAtCrash);
        expect(await world.verifyRuns()).toHaveLength(0);
      }

      // A late second tap on the same button changes nothing; the replayed incident file raises
      // no second proposal; still one execution, and exactly the runs counted above.
      expect((await world.tap(world.phoneProposals(written.id).at(-1)!, 'Approve')).status).toBe(409);
      await expectNoDuplicateProposal(world, written.id);
      expect(await world.counter()).toHaveLength(atCrash.execution === 'none' ? 1 : runsAtCrash);
      expect(await world.executionsOf(written.id)).toHaveLength(1);
      await expectChainVerifies(world, second);
    },
    60_000,
  );

  it.each([
    { phase: 'fix', status: 'running' as const },
    { phase: 'verify', status: 'verifying' as const },
  ])(
    'kill -9 while the $phase script is running: interrupted, escalated, never re-run',
    async ({ phase, status }) => {
      const world = await World.create(ntfy);
      if (phase === 'fix') await world.setFixSleep(30);
      else await world.setVerifySleep(30);
      const first = await world.start();
      await world.appendIncident(SERVICE);
      const proposal = await world.waitForProposal(SERVICE);
      expect((await world.tap(await world.waitForPhoneProposal(proposal.id), 'Approve')).status).toBe(200);
      // The script has started (its line is written) and sleeps: kill fish from outside, now.
      await waitUntil(
        `the ${phase} script to start`,
        async () => (phase === 'fix' ? await world.counter() : await world.verifyRuns()).length === 1 && (await world.execution(proposal.id))?.status === status,
      );
      expect(await first.kill9()).toEqual({ code: null, signal: 'SIGKILL' });
      expect((await world.execution(proposal.id))!.status).toBe(status);
      await world.killOrphanedScripts();

      const second = await world.start();
      const execution = await world.waitForExecution(proposal.id, ['escalated']);
      expect(execution.detail).toMatch(new RegExp(`interrupted \\(fish stopped while it was ${status}\\)\\. It was NOT re-run`));
      expect(await actionsOf(world, execution.id)).toEqual(['created', 'running', ...(phase === 'verify' ? ['verifying'] : []), 'interrupted', 'escalated']);
      await world.waitForPhoneMessage(/^Escalation: web-down on penny$/);
      expect((await world.post('approve', world.token(proposal, 'approve'))).status).toBe(409);
      await expectNoDuplicateProposal(world, proposal.id);
      expect(await world.counter()).toHaveLength(1);
      expect(await world.verifyRuns()).toHaveLength(phase === 'verify' ? 1 : 0);
      expect(await world.executionsOf(proposal.id)).toHaveLength(1);
      await expectChainVerifies(world, second);
    },
    60_000,
  );

  it.each([
    { label: 'decision-recorded, then remote-call-finished', crashes: ['decision-recorded', 'remote-call-finished'] as EngineCheckpoint[], end: 'escalated' as const },
    { label: 'proposal-written, then notification-sent', crashes: ['proposal-written', 'notification-sent'] as EngineCheckpoint[], end: 'succeeded' as const },
  ])(
    'SIGKILL at $label (during recovery): still exactly once',
    async ({ crashes, end }) => {
      const world = await World.create(ntfy);
      const first = await world.start({ crashAt: crashes[0] });
      await world.appendIncident(SERVICE);
      const proposal = await world.waitForProposal(SERVICE);
      if (crashes[0] === 'decision-recorded') {
        await world.tap(await world.waitForPhoneProposal(proposal.id), 'Approve').catch(() => undefined);
      }
      expect(await first.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' });
      // The restart dies in its own recovery: resuming the approved fix, or re-sending the proposal.
      const recovering = world.spawn({ crashAt: crashes[1] });
      expect(await recovering.waitForExit(30_000)).toEqual({ code: null, signal: 'SIGKILL' });
      const runsBefore = (await world.counter()).length;

      const last = await world.start();
      if (end === 'escalated') {
        expect(runsBefore).toBe(1);
        const execution = await world.waitForExecution(proposal.id, ['escalated']);
        expect(await actionsOf(world, execution.id)).toEqual(['created', 'running', 'interrupted', 'escalated']);
      } else {
        expect(runsBefore).toBe(0);
        // Sent by the dying restart, then again by this one: the newest button works, once.
        const resent = await world.waitForPhoneProposal(proposal.id, 2);
        expect((await world.tap(resent, 'Approve')).status).toBe(200);
        await world.waitForExecution(proposal.id, ['succeeded']);
        expect((await world.tap(world.phoneProposals(proposal.id)[0]!, 'Approve')).status).toBe(409);
      }
      await expectNoDuplicateProposal(world, proposal.id);
      expect(await world.counter()).toHaveLength(1);
      expect(await world.executionsOf(proposal.id)).toHaveLength(1);
      await expectChainVerifies(world, last);
    },
    60_000,
  );
});

describe('one real fish process under hostile traffic', () => {
  let world: World;
  let fish: FishProcess;

  beforeAll(async () => {
    world = await World.create(ntfy);
    fish = await world.start({ persistent: true });
  }, 60_000);

  it('100 concurrent POSTs of the same Approve link: exactly one 200, one execution, one run', async () => {
    await world.appendIncident('web-1');
    const proposal = await world.waitForProposal('web-1');
    const notification = await world.waitForPhoneProposal(proposal.id);
    const answers = await Promise.all(Array.from({ length: 100 }, () => world.tap(notification, 'Approve', 20_000)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(99);
    expect(answers.filter((answer) => answer.status === 409).every((answer) => /^already approved/.test(answer.body?.message ?? ''))).toBe(true);
    await world.waitForExecution(proposal.id, ['succeeded']);
    expect(await world.executionsOf(proposal.id)).toHaveLength(1);
    expect(await world.counter()).toHaveLength(1);
    expect((await actionsOf(world, proposal.id)).filter((action) => action === 'approved')).toHaveLength(1);
  }, 60_000);

  it('10,000 forged, truncated, expired, replayed and cross-proposal tokens: none accepted, nothing changes', async () => {
    // P1 approved and fixed (above), P2 denied, P3 still waiting for a decision.
    const [p1] = await world.proposals('web-1');
    expect(p1?.status).toBe('approved');
    await world.appendIncident('web-2');
    const p2 = await world.waitForProposal('web-2');
    const denyP2 = world.token(p2, 'deny');
    expect((await world.post('deny', denyP2)).status).toBe(200);
    await world.appendIncident('web-3');
    const p3 = await world.waitForProposal('web-3');
    await world.waitForPhoneProposal(p3.id);
    const store = await world.store();
    // Let the asynchronous notification rows land first (P1: proposal, approved, fixed; P2:
    // proposal, denied; P3: proposal), so that "no new audit row" below means what it says.
    const notificationKinds = async (id: string) =>
      (await store.listNotifications({ proposalId: id }))
        .map((notification) => notification.kind)
        .sort()
        .join(',');
    await waitUntil(
      'the notifications of P1-P3 to be recorded',
      async () =>
        (await notificationKinds(p1!.id)) === 'proposal,update,update' &&
        (await notificationKinds(p2.id)) === 'proposal,update' &&
        (await notificationKinds(p3.id)) === 'proposal' &&
        // The receipt id is written to the proposal row after its notification row.
        (await world.proposal(p3.id))?.notificationId !== undefined,
    );
    const before = {
      p1: await world.proposal(p1!.id),
      p2: await world.proposal(p2.id),
      p3: await world.proposal(p3.id),
      runs: await world.counter(),
      rows: (await store.history({ limit: 100_000 })).length,
    };

    const corpus = tokenCorpus({ count: 10_000, seed: 0x5eed, world, decided: [p1!, p2], open: [p3], usedTokens: { approve: [world.token(p1!, 'approve')], deny: [denyP2] } });
    const kinds = new Map<string, number>();
    for (const { kind } of corpus) kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    expect(corpus).toHaveLength(10_000);
    expect(kinds.size).toBeGreaterThanOrEqual(12);

    // Bounded concurrency: 16 requests in flight against the one process.
    const statuses = new Map<number, number>();
    const accepted: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < corpus.length) {
        const { decision, token, kind } = corpus[next++]!;
        const answer = await world.post(decision, token, 20_000);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status < 400 || answer.body?.ok === true) accepted.push(`${kind}: ${decision} ${token.slice(0, 100)} -> ${answer.status}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(accepted).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(10_000);
    expect([...statuses.keys()].filter((status) => ![400, 403, 404, 409, 410].includes(status))).toEqual([]);

    // Nothing changed: the three proposals, the runs, and not one audit row was written.
    expect(await world.proposal(p1!.id)).toEqual(before.p1);
    expect(await world.proposal(p2.id)).toEqual(before.p2);
    expect(await world.proposal(p3.id)).toEqual(before.p3);
    expect(await world.counter()).toEqual(before.runs);
    expect(await world.execution(p2.id)).toBeUndefined();
    expect(await world.execution(p3.id)).toBeUndefined();
    expect((await store.history({ limit: 100_000 })).length).toBe(before.rows);

    // The still-open proposal is still approvable, once, from its notification.
    expect((await world.tap(await world.waitForPhoneProposal(p3.id), 'Approve')).status).toBe(200);
    await world.waitForExecution(p3.id, ['succeeded']);
    expect(await world.counter()).toHaveLength(2);
    await expectChainVerifies(world, fish);
  }, 240_000); // 10,000 HTTP round trips: about 20 s on an idle 2-core machine, several times that on a loaded one
});
