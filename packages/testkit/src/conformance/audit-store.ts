import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, type AuditStore, type ExecutionRecord, type ExecutionStep, type IncidentRecord, type NotificationRecord, type ProposalRecord } from '@fish-sre/core';
import { testAuditStoreAbsence } from './audit-store-absence.js';
import { testAuditStoreCoordination } from './audit-store-coordination.js';
import { testAuditStoreOutbox } from './audit-store-outbox.js';

export interface TestAuditStoreOptions {
  /** Shown in the describe block, e.g. `sqlite`. */
  name: string;
  /** A fresh, empty store for each test (the suite calls `init()` and `close()` itself). */
  createStore: () => AuditStore | Promise<AuditStore>;
  /**
   * A second store on the same database as the one given, as another fish instance opens it
   * (a second connection to the file, a second pool to the server). The coordination races are
   * then spread over both.
   */
  createPeer?: (store: AuditStore) => AuditStore | Promise<AuditStore>;
  /**
   * Run the coordination part (owners and leases, host locks, incident claims), which a store
   * shared by several instances must pass. @default true
   */
  coordination?: boolean;
  /**
   * Run the absence-stream part (`listAbsenceStreams` / `saveAbsenceStreams`), which a store
   * that keeps the `absent` signals across a restart must pass. @default true
   */
  absence?: boolean;
}

let counter = 0;
/** Unique ids per call, so a store reused across tests never sees a duplicate. */
function uid(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);
const at = (offsetSeconds: number) => new Date(T0 + offsetSeconds * 1000).toISOString();

export function sampleIncident(overrides: Partial<IncidentRecord> = {}): IncidentRecord {
  return {
    id: uid('inc'),
    fingerprint: 'docker-compose-stopped|penny|homepage',
    host: 'penny',
    service: 'homepage',
    patternId: 'docker-compose-stopped-post-reboot',
    candidates: ['docker-compose-stopped-post-reboot'],
    confidence: 1,
    method: 'deterministic',
    reason: 'all 2 required signals matched',
    evidence: ['homepage exited with code 0', 'container homepage is not running'],
    eventCount: 3,
    firstSeen: at(0),
    lastSeen: at(5),
    createdAt: at(6),
    ...overrides,
  };
}

export function sampleProposal(incidentId: string, overrides: Partial<ProposalRecord> = {}): ProposalRecord {
  return {
    id: uid('prop'),
    incidentId,
    patternId: 'docker-compose-stopped-post-reboot',
    targetHost: 'penny',
    service: 'homepage',
    confidence: 1,
    status: 'proposed',
    dryRun: false,
    autoExec: false,
    createdAt: at(7),
    expiresAt: at(7 + 3600),
    ...overrides,
  };
}

export function sampleExecution(proposalId: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    id: uid('exec'),
    proposalId,
    patternId: 'docker-compose-stopped-post-reboot',
    targetHost: 'penny',
    status: 'pending',
    dryRun: false,
    createdAt: at(20),
    updatedAt: at(20),
    steps: [],
    ...overrides,
  };
}

/**
 * Records one proposal approved and run to the end (`succeeded`, or `failed` with exit 3) for an
 * existing incident, through the store's own calls, as the engine does.
 */
export async function recordRun(store: AuditStore, incidentId: string, outcome: 'succeeded' | 'failed' = 'succeeded'): Promise<{ proposal: ProposalRecord; execution: ExecutionRecord }> {
  const proposal = sampleProposal(incidentId);
  await store.insertProposal(proposal);
  await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: proposal.createdAt, actor: 'owner' });
  const execution = sampleExecution(proposal.id);
  await store.insertExecution(execution);
  await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: execution.createdAt });
  const step = outcome === 'succeeded' ? sampleStep() : sampleStep({ exitCode: 3 });
  await store.transitionExecution({ id: execution.id, from: ['running'], to: outcome, at: execution.createdAt, appendStep: step, ...(outcome === 'failed' ? { detail: 'exit 3' } : {}) });
  return { proposal, execution };
}

export function sampleStep(overrides: Partial<ExecutionStep> = {}): ExecutionStep {
  return {
    verb: 'run',
    script: 'compose-up.sh',
    startedAt: at(21),
    exitCode: 0,
    signal: null,
    stdout: 'Container homepage  Started\n',
    stderr: '',
    durationMs: 812,
    timedOut: false,
    dryRun: false,
    ...overrides,
  };
}

/**
 * The AuditStore contract as a test suite. Any implementation (in-memory, SQLite, PostgreSQL,
 * third-party) runs it against a real instance: it asserts only what the contract promises.
 */
export function testAuditStore(options: TestAuditStoreOptions): void {
  describe(`AuditStore conformance: ${options.name}`, () => {
    let store: AuditStore;

    beforeEach(async () => {
      store = await options.createStore();
      await store.init?.();
    });

    afterEach(async () => {
      await store.close?.();
    });

    async function seedProposal(overrides: Partial<ProposalRecord> = {}) {
      const incident = sampleIncident();
      await store.insertIncident(incident);
      const proposal = sampleProposal(incident.id, overrides);
      await store.insertProposal(proposal);
      return { incident, proposal };
    }

    async function seedExecution(overrides: Partial<ExecutionRecord> = {}) {
      const { incident, proposal } = await seedProposal();
      await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: at(10), actor: 'test' });
      const execution = sampleExecution(proposal.id, overrides);
      expect(await store.insertExecution(execution)).toBe(true);
      return { incident, proposal, execution };
    }

    it('has the v1 specification version and a name', () => {
      expect(store.specificationVersion).toBe('v1');
      expect(typeof store.name).toBe('string');
      expect(store.name.length).toBeGreaterThan(0);
    });

    describe('incidents', () => {
      it('inserts and gets an incident with every field intact', async () => {
        const incident = sampleIncident({ evidence: ['ligne « accentuée » 🐟', 'second'], candidates: ['a', 'b'] });
        await store.insertIncident(incident);
        expect(await store.getIncident(incident.id)).toEqual(incident);
      });

      it('returns undefined for an unknown incident', async () => {
        expect(await store.getIncident('no-such-incident')).toBeUndefined();
      });

      it('lists incidents newest first and honours the limit', async () => {
        const first = sampleIncident({ createdAt: at(100) });
        const second = sampleIncident({ createdAt: at(200) });
        const third = sampleIncident({ createdAt: at(300) });
        for (const incident of [first, second, third]) await store.insertIncident(incident);
        const listed = await store.listIncidents();
        const ids = listed.map((incident) => incident.id);
        expect(ids.indexOf(third.id)).toBeLessThan(ids.indexOf(second.id));
        expect(ids.indexOf(second.id)).toBeLessThan(ids.indexOf(first.id));
        expect(await store.listIncidents({ limit: 2 })).toHaveLength(2);
      });

      it('refuses a second incident with the same id', async () => {
        const incident = sampleIncident();
        await store.insertIncident(incident);
        await expect(store.insertIncident({ ...incident, host: 'other' })).rejects.toThrow();
        expect((await store.getIncident(incident.id))?.host).toBe('penny');
      });
    });

    describe('proposals', () => {
      it('inserts and gets a proposal', async () => {
        const { proposal } = await seedProposal({ dryRun: true });
        expect(await store.getProposal(proposal.id)).toEqual(proposal);
      });

      it('keeps the pin of what a proposal showed (scripts and digests), also after a decision', async () => {
        const pin = {
          catalogDigest: 'c'.repeat(64),
          pattern: 'p'.repeat(64),
          scripts: [
            { step: 'fix' as const, script: 'compose-up.sh', sha256: 'a'.repeat(64) },
            { step: 'verify' as const, script: 'compose-ps.sh', sha256: 'b'.repeat(64) },
          ],
        };
        const { proposal } = await seedProposal({ pin });
        expect((await store.getProposal(proposal.id))?.pin).toEqual(pin);
        const approved = await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: at(30), actor: 'test' });
        expect(approved?.pin).toEqual(pin);
        expect((await store.listProposals({ status: 'approved' })).find((listed) => listed.id === proposal.id)?.pin).toEqual(pin);
      });

      it('lists proposals filtered by one status or several', async () => {
        const { proposal: open } = await seedProposal();
        const { proposal: denied } = await seedProposal();
        await store.transitionProposal({ id: denied.id, from: 'proposed', to: 'denied', at: at(30), actor: 'test' });
        const proposed = await store.listProposals({ status: 'proposed' });
        expect(proposed.map((p) => p.id)).toContain(open.id);
        expect(proposed.map((p) => p.id)).not.toContain(denied.id);
        const both = await store.listProposals({ status: ['proposed', 'denied'] });
        expect(both.map((p) => p.id)).toEqual(expect.arrayContaining([open.id, denied.id]));
        expect(await store.listProposals({ limit: 1 })).toHaveLength(1);
      });

      it('records the notification that carries a proposal', async () => {
        const { proposal } = await seedProposal();
        await store.setProposalNotification(proposal.id, 'ntfy-msg-42');
        expect((await store.getProposal(proposal.id))?.notificationId).toBe('ntfy-msg-42');
      });

      it('moves proposed -> approved once and records who decided', async () => {
        const { proposal } = await seedProposal();
        const updated = await store.transitionProposal({
          id: proposal.id,
          from: 'proposed',
          to: 'approved',
          at: at(40),
          actor: 'link:owner',
          tokenId: 'tok-1',
        });
        expect(updated?.status).toBe('approved');
        expect(updated?.decidedAt).toBe(at(40));
        expect(updated?.decidedBy).toBe('link:owner');
        expect((await store.getProposal(proposal.id))?.status).toBe('approved');
        const again = await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: at(41), actor: 'link:owner' });
        expect(again).toBeUndefined();
        expect((await store.getProposal(proposal.id))?.decidedAt).toBe(at(40));
      });

      it('lets exactly one of many concurrent approve/deny decisions win', async () => {
        const { proposal } = await seedProposal();
        const attempts = Array.from({ length: 20 }, (_, index) =>
          store.transitionProposal({
            id: proposal.id,
            from: 'proposed',
            to: index % 2 === 0 ? 'approved' : 'denied',
            at: at(50 + index),
            actor: `actor-${index}`,
          }),
        );
        const results = await Promise.all(attempts);
        const winners = results.filter((result) => result !== undefined);
        expect(winners).toHaveLength(1);
        const stored = await store.getProposal(proposal.id);
        expect(stored?.status).toBe(winners[0]?.status);
        expect(stored?.decidedBy).toBe(winners[0]?.decidedBy);
      });

      it('returns undefined when the caller believes a stale status', async () => {
        const { proposal } = await seedProposal();
        await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'expired', at: at(60), actor: 'system' });
        // expired -> approved is illegal anyway; a stale `from` of proposed is what a late click sends.
        expect(await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: at(61), actor: 'late' })).toBeUndefined();
        expect((await store.getProposal(proposal.id))?.status).toBe('expired');
      });

      it('returns undefined for an unknown proposal', async () => {
        expect(await store.transitionProposal({ id: 'no-such-proposal', from: 'proposed', to: 'approved', at: at(1), actor: 'x' })).toBeUndefined();
      });

      it('throws STATE_TRANSITION_ILLEGAL for an illegal transition and changes nothing', async () => {
        const { proposal } = await seedProposal();
        await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'denied', at: at(70), actor: 'owner' });
        const before = await store.history({ entityId: proposal.id });
        const error = await store.transitionProposal({ id: proposal.id, from: 'denied', to: 'approved', at: at(71), actor: 'attacker' }).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(FishError.hasCode(error, FishErrorCode.STATE_TRANSITION_ILLEGAL)).toBe(true);
        const stored = await store.getProposal(proposal.id);
        expect(stored?.status).toBe('denied');
        expect(stored?.decidedBy).toBe('owner');
        const after = await store.history({ entityId: proposal.id });
        expect(after.filter((entry) => entry.entity === 'proposal' || entry.entity === 'decision')).toEqual(before.filter((entry) => entry.entity === 'proposal' || entry.entity === 'decision'));
      });

      it('throws STATE_TRANSITION_ILLEGAL for proposed -> proposed', async () => {
        const { proposal } = await seedProposal();
        await expect(store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'proposed', at: at(1), actor: 'x' })).rejects.toSatisfy((error: unknown) =>
          FishError.hasCode(error, FishErrorCode.STATE_TRANSITION_ILLEGAL),
        );
        expect((await store.getProposal(proposal.id))?.status).toBe('proposed');
      });
    });

    describe('executions', () => {
      it('inserts one execution per proposal; the second insert returns false and changes nothing', async () => {
        const { proposal, execution } = await seedExecution();
        const duplicate = sampleExecution(proposal.id, { targetHost: 'other-host' });
        expect(await store.insertExecution(duplicate)).toBe(false);
        expect(await store.getExecution(duplicate.id)).toBeUndefined();
        expect(await store.getExecutionByProposal(proposal.id)).toEqual(execution);
        expect(await store.getExecution(execution.id)).toEqual(execution);
      });

      it('allows exactly one of 50 concurrent inserts for one proposal', async () => {
        const { proposal } = await seedProposal();
        await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: at(10), actor: 'test' });
        const candidates = Array.from({ length: 50 }, () => sampleExecution(proposal.id));
        const results = await Promise.all(candidates.map((candidate) => store.insertExecution(candidate)));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = candidates[results.indexOf(true)];
        expect((await store.getExecutionByProposal(proposal.id))?.id).toBe(winner?.id);
        const listed = await store.listExecutions({ limit: 1000 });
        expect(listed.filter((execution) => execution.proposalId === proposal.id)).toHaveLength(1);
      });

      it('returns undefined for unknown executions', async () => {
        expect(await store.getExecution('no-such-execution')).toBeUndefined();
        expect(await store.getExecutionByProposal('no-such-proposal')).toBeUndefined();
      });

      it('moves pending -> running -> succeeded with the appended step and detail', async () => {
        const { execution } = await seedExecution();
        const running = await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: at(21) });
        expect(running?.status).toBe('running');
        expect(running?.updatedAt).toBe(at(21));
        const runStep = sampleStep({ stdout: 'ok 🐟 « fini »\n' });
        const done = await store.transitionExecution({
          id: execution.id,
          from: ['running'],
          to: 'succeeded',
          at: at(24),
          appendStep: runStep,
          detail: 'fix and verify passed',
        });
        expect(done?.status).toBe('succeeded');
        expect(done?.steps).toEqual([runStep]);
        expect(done?.detail).toBe('fix and verify passed');
        expect(done?.updatedAt).toBe(at(24));
        expect(await store.getExecution(execution.id)).toEqual(done);
      });

      it('appends steps across transitions (failed -> rolled_back keeps the run step first)', async () => {
        const { execution } = await seedExecution();
        await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: at(21) });
        const runStep = sampleStep({ exitCode: 1, stderr: 'boom' });
        const rollbackStep = sampleStep({ verb: 'rollback', script: 'compose-rollback.sh', startedAt: at(30) });
        await store.transitionExecution({ id: execution.id, from: ['running'], to: 'failed', at: at(25), appendStep: runStep });
        const rolled = await store.transitionExecution({ id: execution.id, from: ['failed'], to: 'rolled_back', at: at(31), appendStep: rollbackStep });
        expect(rolled?.steps).toEqual([runStep, rollbackStep]);
        expect((await store.getExecution(execution.id))?.steps.map((step) => step.verb)).toEqual(['run', 'rollback']);
      });

      it('accepts a from-list and refuses when the current status is not in it', async () => {
        const { execution } = await seedExecution();
        const interrupted = await store.transitionExecution({ id: execution.id, from: ['pending', 'running'], to: 'interrupted', at: at(40), detail: 'process restarted' });
        expect(interrupted?.status).toBe('interrupted');
        expect(await store.transitionExecution({ id: execution.id, from: ['pending', 'running'], to: 'interrupted', at: at(41) })).toBeUndefined();
        const escalated = await store.transitionExecution({ id: execution.id, from: ['interrupted'], to: 'escalated', at: at(42) });
        expect(escalated?.status).toBe('escalated');
      });

      it('refuses an illegal execution transition (undefined or STATE_TRANSITION_ILLEGAL) and changes nothing', async () => {
        const { execution } = await seedExecution();
        const outcome = await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'succeeded', at: at(50), appendStep: sampleStep() }).then(
          (result) => ({ result }),
          (caught: unknown) => ({ caught }),
        );
        if ('caught' in outcome) expect(FishError.hasCode(outcome.caught, FishErrorCode.STATE_TRANSITION_ILLEGAL)).toBe(true);
        else expect(outcome.result).toBeUndefined();
        expect(await store.getExecution(execution.id)).toEqual(execution);
      });

      it('lets exactly one of concurrent pending -> running transitions win', async () => {
        const { execution } = await seedExecution();
        const results = await Promise.all(Array.from({ length: 20 }, (_, index) => store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: at(60 + index) })));
        expect(results.filter((result) => result !== undefined)).toHaveLength(1);
      });

      it('lists executions filtered by status', async () => {
        const { execution: first } = await seedExecution();
        const { execution: second } = await seedExecution();
        await store.transitionExecution({ id: second.id, from: ['pending'], to: 'running', at: at(21) });
        const running = await store.listExecutions({ status: 'running' });
        expect(running.map((execution) => execution.id)).toContain(second.id);
        expect(running.map((execution) => execution.id)).not.toContain(first.id);
        const either = await store.listExecutions({ status: ['pending', 'running'] });
        expect(either.map((execution) => execution.id)).toEqual(expect.arrayContaining([first.id, second.id]));
      });
    });

    describe('notifications', () => {
      it('records notifications and lists them by proposal', async () => {
        const { proposal, incident } = await seedProposal();
        const sent: NotificationRecord = {
          id: uid('notif'),
          kind: 'proposal',
          proposalId: proposal.id,
          incidentId: incident.id,
          channel: 'ntfy',
          receiptId: 'xE73Iyuabi',
          title: 'Docker compose stack stopped — penny ⚠️',
          ok: true,
          sentAt: at(8),
        };
        const failed: NotificationRecord = {
          id: uid('notif'),
          kind: 'escalation',
          channel: 'ntfy',
          title: 'Escalation',
          ok: false,
          error: 'ntfy answered 500',
          sentAt: at(9),
        };
        await store.recordNotification(sent);
        await store.recordNotification(failed);
        expect(await store.listNotifications({ proposalId: proposal.id })).toEqual([sent]);
        const all = await store.listNotifications({ limit: 1000 });
        expect(all).toEqual(expect.arrayContaining([sent, failed]));
        expect(await store.listNotifications({ limit: 1 })).toHaveLength(1);
      });
    });

    describe('budget', () => {
      const reservation = (month: string, amountEur: number, capEur: number) => ({
        id: uid('res'),
        month,
        amountEur,
        capEur,
        purpose: 'classify',
        provider: 'claude',
        model: 'claude-sonnet-4-6',
        at: at(1),
      });

      it('reserves within the cap, refuses beyond it, and counts open reservations as spent', async () => {
        const month = '2031-01';
        expect(await store.reserveBudget(reservation(month, 6, 10))).toBe(true);
        expect(await store.spentInMonth(month)).toBeCloseTo(6, 9);
        expect(await store.reserveBudget(reservation(month, 4, 10))).toBe(true);
        expect(await store.reserveBudget(reservation(month, 0.01, 10))).toBe(false);
        expect(await store.spentInMonth(month)).toBeCloseTo(10, 9);
        expect(await store.spentInMonth('2031-02')).toBe(0);
      });

      it('settles a reservation to what the call really cost', async () => {
        const month = '2031-03';
        const reserved = reservation(month, 5, 10);
        await store.reserveBudget(reserved);
        await store.settleBudget({ id: reserved.id, actualEur: 1.25, inputTokens: 1200, outputTokens: 300, at: at(2) });
        expect(await store.spentInMonth(month)).toBeCloseTo(1.25, 9);
        const usage = await store.listLlmUsage({ month });
        expect(usage).toHaveLength(1);
        expect(usage[0]).toMatchObject({ id: reserved.id, reservedEur: 5, actualEur: 1.25, inputTokens: 1200, outputTokens: 300, settledAt: at(2), month });
        // Freed room can be reserved again.
        expect(await store.reserveBudget(reservation(month, 8.75, 10))).toBe(true);
        expect(await store.reserveBudget(reservation(month, 0.01, 10))).toBe(false);
      });

      it('never exceeds the cap under 50 concurrent reservations', async () => {
        const month = '2031-04';
        const results = await Promise.all(Array.from({ length: 50 }, () => store.reserveBudget(reservation(month, 1, 20))));
        expect(results.filter(Boolean)).toHaveLength(20);
        expect(await store.spentInMonth(month)).toBeCloseTo(20, 9);
        expect(await store.listLlmUsage({ month, limit: 1000 })).toHaveLength(20);
      });
    });

    describe('history', () => {
      it('records every state change in order, oldest first, with increasing seq', async () => {
        const { incident, proposal, execution } = await seedExecution();
        await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: at(21) });
        await store.transitionExecution({ id: execution.id, from: ['running'], to: 'succeeded', at: at(22), appendStep: sampleStep() });
        await store.recordSystemEvent('catalog-reload', { patterns: 5 }, at(23));
        const entries = await store.history({ limit: 10_000 });
        const seqs = entries.map((entry) => entry.seq);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(seqs.length);

        const mine = entries.filter((entry) => [incident.id, proposal.id, execution.id].includes(entry.entityId));
        const describeEntry = (entry: (typeof mine)[number]) => `${entry.entity}:${entry.entityId === incident.id ? 'I' : entry.entityId === proposal.id ? 'P' : 'E'}`;
        const order = mine.map(describeEntry);
        expect(order[0]).toBe('incident:I');
        expect(order.indexOf('proposal:P')).toBeGreaterThan(0);
        const executionEntries = mine.filter((entry) => entry.entity === 'execution');
        expect(executionEntries.length).toBeGreaterThanOrEqual(3); // insert, running, succeeded
        const decision =
          mine.find((entry) => entry.entityId === proposal.id && entry.entity !== 'proposal') ??
          mine.find((entry) => entry.entityId === proposal.id && JSON.stringify(entry.data).includes('approved'));
        expect(decision).toBeDefined();
        expect(JSON.stringify(decision?.data)).toContain('approved');
        expect(entries.some((entry) => entry.entity === 'system' && entry.action === 'catalog-reload')).toBe(true);
      });

      it('filters by entity id and pages with afterSeq and limit', async () => {
        const { proposal } = await seedProposal();
        await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'denied', at: at(30), actor: 'owner' });
        const forProposal = await store.history({ entityId: proposal.id });
        expect(forProposal.length).toBeGreaterThanOrEqual(2);
        expect(forProposal.every((entry) => entry.entityId === proposal.id)).toBe(true);
        const first = forProposal[0]!;
        const rest = await store.history({ entityId: proposal.id, afterSeq: first.seq });
        expect(rest).toEqual(forProposal.slice(1));
        expect(await store.history({ entityId: proposal.id, limit: 1 })).toEqual([first]);
      });

      it('records budget reservations and settlements', async () => {
        const month = '2031-05';
        const id = uid('res');
        await store.reserveBudget({ id, month, amountEur: 1, capEur: 5, purpose: 'classify', provider: 'claude', model: 'm', at: at(1) });
        await store.settleBudget({ id, actualEur: 0.5, inputTokens: 10, outputTokens: 5, at: at(2) });
        const entries = await store.history({ entityId: id });
        expect(entries.length).toBeGreaterThanOrEqual(2);
        expect(entries.every((entry) => entry.entity === 'llm_usage')).toBe(true);
      });

      it('keeps data as given in a system event', async () => {
        await store.recordSystemEvent('start', { version: '0.1.0', dryRun: true, note: 'démarrage 🐟' }, at(0));
        const entries = await store.history({ limit: 10_000 });
        const start = entries.filter((entry) => entry.entity === 'system' && entry.action === 'start').at(-1);
        expect(start?.data).toEqual({ version: '0.1.0', dryRun: true, note: 'démarrage 🐟' });
        expect(start?.at).toBe(at(0));
      });

      it('records system events under the entity id "system" in every store', async () => {
        await store.recordSystemEvent('catalog-reload', { patterns: 3 }, at(5));
        const system = await store.history({ entityId: 'system' });
        expect(system.some((entry) => entry.entity === 'system' && entry.action === 'catalog-reload' && entry.at === at(5))).toBe(true);
        expect(system.every((entry) => entry.entity === 'system')).toBe(true);
        expect(await store.history({ entityId: 'fish' })).toEqual([]);
      });
    });
  });

  testAuditStoreOutbox({ name: options.name, createStore: options.createStore, ...(options.createPeer ? { createPeer: options.createPeer } : {}) });

  if (options.absence !== false) testAuditStoreAbsence({ name: options.name, createStore: options.createStore, ...(options.createPeer ? { createPeer: options.createPeer } : {}) });

  if (options.coordination !== false) {
    testAuditStoreCoordination({
      name: options.name,
      createStore: options.createStore,
      ...(options.createPeer ? { createPeer: options.createPeer } : {}),
      async seed(store, overrides) {
        const incident = sampleIncident();
        await store.insertIncident(incident);
        const proposal = sampleProposal(incident.id);
        await store.insertProposal(proposal);
        await store.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: at(10), actor: 'test' });
        const execution = sampleExecution(proposal.id, overrides);
        expect(await store.insertExecution(execution)).toBe(true);
        return execution;
      },
    });
  }
}
