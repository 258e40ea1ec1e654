import { describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../../approval/approval-token.js';
import type { IncidentRecord, ProposalRecord } from '../../contracts/records.js';
import { makePattern } from '../../test-support/fixtures.js';
import { recordingNotifier, seedProposal, testStageContext } from '../../test-support/stage-context.js';
import { NotificationStage } from './notifications.js';

const signer = new ApprovalSigner('notification-test-secret-0123456789');
const pattern = makePattern({ id: 'web-down', title: 'Web down', description: 'The web server refuses connections.', on_failure: 'rollback', rollback: { script: 'rollback.sh' } });
const incident = { id: 'inc_prop_1', host: 'penny', service: 'web', evidence: ['l1', 'l2', 'l3', 'l4', 'l5', 'l6'] } as IncidentRecord;

async function seeded(context: ReturnType<typeof testStageContext>): Promise<ProposalRecord> {
  return seedProposal(context.audit, context.clock.now());
}

describe('notification stage', () => {
  it('sends a proposal with signed links that verify, records the receipt on the proposal and in the audit trail', async () => {
    const context = testStageContext();
    const stage = new NotificationStage(context, { signer, publicUrl: 'https://fish.example.test///' });
    const proposal = await seeded(context);
    await stage.propose(proposal, incident, pattern);
    const sent = context.notifier.sent[0];
    if (sent?.type !== 'propose') throw new Error('expected a proposal');
    expect(sent.notice.summary).toContain('Fix: `fix.sh` on penny, verified by `verify.sh`. On failure: rollback.');
    expect(sent.notice.evidence).toEqual(['l2', 'l3', 'l4', 'l5', 'l6']);
    expect(sent.actions.viewUrl).toBe('https://fish.example.test/proposals/prop_1');
    const token = sent.actions.approveUrl.slice('https://fish.example.test/approve/'.length);
    expect(signer.verify(token, 'approve', context.clock.now())).toMatchObject({ ok: true, claims: { proposalId: 'prop_1' } });
    expect((await context.audit.getProposal('prop_1'))?.notificationId).toBe('r1');
    expect(await context.audit.listNotifications()).toEqual([expect.objectContaining({ kind: 'proposal', ok: true, receiptId: 'r1', proposalId: 'prop_1' })]);
    expect(context.checkpoints).toEqual(['notification-sent']);
    expect(context.counters.get('notifications')).toBe(1);
  });

  it('records a failed send (redacted), reports it, and does not throw', async () => {
    const context = testStageContext({ notifier: recordingNotifier({ failing: true }) });
    const stage = new NotificationStage(context, { signer, publicUrl: 'https://fish.example.test' });
    await stage.escalate({ kind: 'escalation', title: 'Disk', body: 'b', priority: 'high' }, { incidentId: 'inc_prop_1' });
    expect(await context.audit.listNotifications()).toEqual([expect.objectContaining({ kind: 'escalation', ok: false, incidentId: 'inc_prop_1', error: expect.stringContaining('502') })]);
    expect(context.failures).toHaveLength(1);
    expect(context.counters.get('notificationFailures')).toBe(1);
  });

  it('edits the proposal message when the notifier can, and sends a plain message when it cannot', async () => {
    const editing = testStageContext();
    const proposal = await seeded(editing);
    await new NotificationStage(editing, { signer, publicUrl: 'https://x.test' }).update({ ...proposal, notificationId: 'r9' }, 'succeeded', 'fixed', 'alice');
    expect(editing.notifier.sent).toEqual([{ type: 'update', update: { proposalId: 'prop_1', status: 'succeeded', detail: 'fixed', actor: 'alice', receipt: { id: 'r9', channel: 'recording' } } }]);

    const plain = testStageContext({ notifier: recordingNotifier({ withUpdate: false }) });
    await new NotificationStage(plain, { signer, publicUrl: 'https://x.test' }).update(proposal, 'escalated', 'a human must look');
    expect(plain.notifier.sent).toEqual([{ type: 'notify', message: { kind: 'info', title: 'web-down: escalated', body: 'a human must look', priority: 'high' } }]);
    expect(await plain.audit.listNotifications()).toEqual([expect.objectContaining({ kind: 'update', title: 'web-down: escalated', ok: true })]);
  });
});
