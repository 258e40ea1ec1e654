import { describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../../approval/approval-token.js';
import { makePattern } from '../../test-support/fixtures.js';
import { seedProposal, testStageContext } from '../../test-support/stage-context.js';
import { HostMutex } from '../host-mutex.js';
import { Cooldowns } from './cooldowns.js';
import { DecisionStage } from './decisions.js';
import { ExecutionStage } from './execution.js';
import { NotificationStage } from './notifications.js';
import { RecoveryStage } from './recovery.js';
import type { RoutingStage } from './routing.js';

function setup() {
  const context = testStageContext({ patterns: [makePattern({ id: 'web-down', cooldown: '30m' })] });
  const signer = new ApprovalSigner('recovery-test-secret-0123456789abcd');
  const notifications = new NotificationStage(context, { signer, publicUrl: 'https://x.test' });
  const execution = new ExecutionStage(context, notifications, { hostLock: new HostMutex(), signal: () => new AbortController().signal });
  const decisions = new DecisionStage(context, notifications, { signer, recovering: () => undefined, execute: (proposal) => execution.execute(proposal) });
  const cooldowns = new Cooldowns();
  // Unattended runs cut by a restart go back to routing: covered in engine.test.ts.
  const routing = { resumeAnnounced: async () => undefined } as unknown as RoutingStage;
  const recovery = new RecoveryStage(context, { notifications, decisions, execution, routing }, { cooldowns, unknownCooldownMs: 3_600_000, resumeWindowMs: 300_000, autoExecDenyWindowMs: 120_000 });
  return { context, recovery, cooldowns };
}

describe('recovery stage', () => {
  it('rebuilds cooldowns from the incidents in the audit trail', async () => {
    const { context, recovery, cooldowns } = setup();
    await seedProposal(context.audit, context.clock.now());
    await recovery.recover();
    expect(cooldowns.active('fp_prop_1', context.clock.now() + 29 * 60_000)).toBe(true);
    expect(cooldowns.active('fp_prop_1', context.clock.now() + 30 * 60_000)).toBe(false);
  });

  it('marks an execution caught mid-flight interrupted and escalates it, never re-running it', async () => {
    const { context, recovery } = setup();
    const proposal = await seedProposal(context.audit, context.clock.now(), { approved: true });
    await context.audit.insertExecution({
      id: 'exe_1',
      proposalId: proposal.id,
      patternId: 'web-down',
      targetHost: 'penny',
      status: 'pending',
      dryRun: false,
      createdAt: context.now(),
      updatedAt: context.now(),
      steps: [],
    });
    await context.audit.transitionExecution({ id: 'exe_1', from: ['pending'], to: 'running', at: context.now() });
    await recovery.recover();
    await context.tasks.drain();
    expect((await context.audit.getExecution('exe_1'))?.status).toBe('escalated');
    const escalation = context.notifier.sent.find((item) => item.type === 'notify');
    expect(escalation).toMatchObject({ message: { body: 'The web-down fix on penny was interrupted (fish stopped while it was running). It was NOT re-run: check the host and decide.' } });
  });

  it('sends again a proposal whose notification was never recorded, and expires the ones past their window', async () => {
    const { context, recovery } = setup();
    await seedProposal(context.audit, context.clock.now(), { id: 'prop_open' });
    await seedProposal(context.audit, context.clock.now() - 3_600_000, { id: 'prop_old', ttlMs: 60_000 });
    await recovery.recover();
    await context.tasks.drain();
    expect(context.notifier.sent.filter((item) => item.type === 'propose').map((item) => item.type === 'propose' && item.notice.proposalId)).toEqual(['prop_open']);
    expect((await context.audit.getProposal('prop_old'))?.status).toBe('expired');
  });

  it('runs an approval found at restart only within the resume window; an older one is marked and escalated, not run', async () => {
    const { context, recovery } = setup();
    const now = context.clock.now();
    const fresh = await seedProposal(context.audit, now - 60_000, { id: 'prop_fresh', approved: true });
    const stale = await seedProposal(context.audit, now - 3 * 86_400_000, { id: 'prop_stale', approved: true, ttlMs: 4 * 86_400_000 });
    await recovery.recover();
    await context.tasks.drain();
    // The fresh one was handed to the executor (a run step was recorded), the stale one was not.
    expect((await context.audit.getExecutionByProposal(fresh.id))?.steps.map((step) => step.verb)).toContain('run');
    const refused = await context.audit.getExecutionByProposal(stale.id);
    expect(refused).toMatchObject({ status: 'escalated', steps: [] });
    expect(refused?.detail).toMatch(/was NOT run now/);
    const system = (await context.audit.history()).filter((entry) => entry.entity === 'system');
    expect(system.filter((entry) => entry.action === 'expired-after-restart').map((entry) => entry.data['proposalId'])).toEqual(['prop_stale']);
    expect(system.filter((entry) => entry.action === 'resume-approved').map((entry) => entry.data['proposalId'])).toEqual(['prop_fresh']);
    const escalations = context.notifier.sent.filter((item) => item.type === 'notify');
    expect(escalations.filter((item) => item.type === 'notify' && /was NOT run now/.test(item.message.body))).toHaveLength(1);
  });
});
