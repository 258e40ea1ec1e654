import { describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../../approval/approval-token.js';
import { seedProposal, testStageContext } from '../../test-support/stage-context.js';
import { DecisionStage } from './decisions.js';
import { NotificationStage } from './notifications.js';

const signer = new ApprovalSigner('decision-test-secret-0123456789abcd');

async function setup(options: { recovering?: Promise<void> } = {}) {
  const context = testStageContext();
  const executed: string[] = [];
  const notifications = new NotificationStage(context, { signer, publicUrl: 'https://x.test' });
  const stage = new DecisionStage(context, notifications, {
    signer,
    recovering: () => options.recovering,
    execute: async (proposal) => void executed.push(proposal.id),
  });
  const proposal = await seedProposal(context.audit, context.clock.now());
  return { context, stage, executed, proposal };
}

describe('decision stage', () => {
  it('approves once and hands the proposal to execution; a second decision changes nothing', async () => {
    const { context, stage, executed } = await setup();
    const token = signer.sign('prop_1', 'approve', context.clock.now() + 60_000);
    expect(await stage.decide(token, 'approve', 'alice')).toMatchObject({ ok: true, status: 'approved', message: 'approved: the fix runs on penny now' });
    await context.tasks.drain();
    expect(executed).toEqual(['prop_1']);
    expect(await stage.decideProposal('prop_1', 'deny', 'bob')).toMatchObject({ ok: false, status: 'already-decided', message: 'already approved at 09:30 UTC by alice' });
    expect(context.checkpoints).toEqual(['decision-recorded']);
  });

  it('answers in domain terms, with no HTTP in them', async () => {
    const { context, stage } = await setup();
    const forged = new ApprovalSigner('another-instance-secret-0123456789ab').sign('prop_1', 'approve', context.clock.now() + 60_000);
    const outcomes = [
      await stage.decide(forged, 'approve', 'mallory'),
      await stage.decide('garbage', 'approve', 'mallory'),
      await stage.decide(signer.sign('prop_1', 'deny', context.clock.now() + 60_000), 'approve', 'mallory'),
      await stage.decideProposal('prop_nope', 'approve', 'alice'),
    ];
    expect(outcomes.map((outcome) => [outcome.status, 'reason' in outcome ? outcome.reason : undefined])).toEqual([
      ['invalid', 'bad-signature'],
      ['invalid', 'malformed'],
      ['wrong-decision', undefined],
      ['not-found', undefined],
    ]);
    for (const outcome of outcomes) expect(outcome).not.toHaveProperty('httpStatus');
  });

  it('expires a proposal past its window instead of approving it, and tells the human', async () => {
    const { context, stage, executed } = await setup();
    context.clock.advance(600_000);
    expect(await stage.decideProposal('prop_1', 'approve', 'alice')).toMatchObject({ ok: false, status: 'expired' });
    await context.tasks.drain();
    expect(executed).toEqual([]);
    expect((await context.audit.getProposal('prop_1'))?.status).toBe('expired');
    expect(context.notifier.sent).toEqual([expect.objectContaining({ type: 'update', update: expect.objectContaining({ status: 'expired' }) })]);
  });

  it('waits for recovery before deciding', async () => {
    let finish!: () => void;
    const recovering = new Promise<void>((resolve) => (finish = resolve));
    const { context, stage } = await setup({ recovering });
    let settled = false;
    const decision = stage.decideProposal('prop_1', 'approve', 'alice').then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBe(false);
    expect((await context.audit.getProposal('prop_1'))?.status).toBe('proposed');
    finish();
    await decision;
    expect((await context.audit.getProposal('prop_1'))?.status).toBe('approved');
  });

  it('a decision the store committed but answered with an error is answered as recorded; one it did not record is an error, never "approved"', async () => {
    const { context, stage, executed } = await setup();
    const real = context.audit.transitionProposal.bind(context.audit);
    // The commit went through, then the connection broke before the answer came back.
    context.audit.transitionProposal = async (transition) => {
      await real(transition);
      throw new Error('connection lost after commit');
    };
    const token = signer.sign('prop_1', 'approve', context.clock.now() + 60_000);
    expect(await stage.decide(token, 'approve', 'alice')).toMatchObject({ ok: true, status: 'approved' });
    await context.tasks.drain();
    expect(executed).toEqual(['prop_1']);

    // The store refused before committing: the caller gets the error, the row stays proposed.
    await seedProposal(context.audit, context.clock.now(), { id: 'prop_2' });
    context.audit.transitionProposal = async () => {
      throw new Error('disk I/O error');
    };
    await expect(stage.decide(signer.sign('prop_2', 'approve', context.clock.now() + 60_000), 'approve', 'alice')).rejects.toThrow(/disk I\/O error/);
    expect((await context.audit.getProposal('prop_2'))?.status).toBe('proposed');
    expect(executed).toEqual(['prop_1']);
  });
});
