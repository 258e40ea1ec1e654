import { describe, expect, it } from 'vitest';
import { createFixture } from './helpers.js';

async function approvedAndRunning(fixSleepSeconds: number) {
  const fixture = await createFixture({ fixSleepSeconds });
  await fixture.engine.start();
  await fixture.engine.ingest(fixture.event(1));
  const { actions } = fixture.notifier.proposals[0]!;
  const running = new Promise<void>((resolve) => fixture.engine.on('execution', (execution) => execution.status === 'running' && resolve()));
  const outcome = await fixture.engine.decide(actions.approveUrl.split('/').pop()!, 'approve', 'owner');
  expect(outcome.ok).toBe(true);
  await running;
  return fixture;
}

describe('engine stop while a fix runs', () => {
  it('lets the running fix finish within the grace period', async () => {
    const fixture = await approvedAndRunning(0.4);
    await fixture.engine.stop({ graceMs: 10_000 });
    const [execution] = await fixture.audit.listExecutions();
    expect(execution!.status).toBe('succeeded');
    expect(execution!.steps.map((step) => step.verb)).toEqual(['run', 'verify']);
  });

  it('cancels it after the grace period, and records and escalates that', async () => {
    const fixture = await approvedAndRunning(5);
    const started = Date.now();
    await fixture.engine.stop({ graceMs: 100 });
    expect(Date.now() - started).toBeLessThan(4_000);
    const [execution] = await fixture.audit.listExecutions();
    expect(execution!.status).toBe('escalated');
    expect(fixture.notifier.messages.some((message) => message.kind === 'escalation')).toBe(true);
  });
});

describe('a stale link', () => {
  it('answers expired but does not expire a proposal whose own window is still open', async () => {
    const fixture = await createFixture();
    await fixture.engine.ingest(fixture.event(1));
    const { notice } = fixture.notifier.proposals[0]!;
    const stale = fixture.signer.sign(notice.proposalId, 'approve', fixture.clock.now() - 1000);
    const outcome = await fixture.engine.decide(stale, 'approve', 'someone');
    expect(outcome).toMatchObject({ ok: false, status: 'expired' });
    expect((await fixture.audit.getProposal(notice.proposalId))!.status).toBe('proposed');
  });
});

describe('stale evidence', () => {
  it('counts old events and never opens an incident from them', async () => {
    const { ApprovalSigner, FishEngine, createMemoryAuditStore, createLocalExecutor } = await import('@fish-sre/core');
    const fixture = await createFixture();
    const engine = new FishEngine({
      catalog: () => fixture.catalog,
      sources: [],
      audit: createMemoryAuditStore(),
      notifier: fixture.notifier,
      executor: createLocalExecutor({ scriptsDir: fixture.catalog.scriptsDir, sandboxDir: fixture.sandboxDir, hosts: ['penny'] }),
      signer: new ApprovalSigner(ApprovalSigner.generateSecret()),
      publicUrl: 'https://fish.example.test',
      clock: fixture.clock,
      maxEvidenceAgeMs: 15 * 60_000,
    });
    const old = { ...fixture.event(1), time: fixture.clock.now() - 16 * 60_000 };
    expect(engine.ingest(old)).toBeUndefined();
    expect(engine.stats()).toMatchObject({ stale: 1, incidents: 0 });
    await engine.ingest({ ...fixture.event(2), time: fixture.clock.now() - 60_000 });
    expect(engine.stats()).toMatchObject({ stale: 1, incidents: 1 });
    expect(fixture.notifier.proposals).toHaveLength(1);
  });
});
