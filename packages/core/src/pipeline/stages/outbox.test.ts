import { describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../../approval/approval-token.js';
import type { Notifier, NotifierMessage } from '../../contracts/notifier.js';
import type { IncidentRecord } from '../../contracts/records.js';
import { makePattern } from '../../test-support/fixtures.js';
import { seedProposal, testStageContext } from '../../test-support/stage-context.js';
import { NotificationStage } from './notifications.js';

const signer = new ApprovalSigner('outbox-test-secret-0123456789abcdef');
const pattern = makePattern({ id: 'web-down', title: 'Web down', description: 'The web server refuses connections.' });
const incident = { id: 'inc_prop_1', host: 'penny', service: 'web', evidence: ['l1'] } as IncidentRecord;
const escalation: NotifierMessage = { kind: 'escalation', title: 'Fix failed on penny', body: 'verify exited 1', priority: 'high' };

/** A notifier that can be switched off: then every call fails, as an unreachable server does. */
function switchable(name: string) {
  const got: Array<{ type: string; text: string; approveToken?: string }> = [];
  const state = { down: false, calls: 0 };
  const answer = (type: string, text: string, approveToken?: string) => {
    state.calls += 1;
    if (state.down) throw new Error(`${name}: connect ECONNREFUSED 127.0.0.1:9`);
    got.push({ type, text, ...(approveToken ? { approveToken } : {}) });
    return { id: `${name}-${got.length}`, channel: name };
  };
  const notifier: Notifier = {
    specificationVersion: 'v1',
    name,
    propose: async (notice, actions) => answer('propose', notice.summary, actions.approveToken),
    update: async (update) => answer(`update:${update.receipt?.id ?? 'none'}`, update.detail),
    notify: async (message) => answer('notify', message.body),
  };
  return { notifier, got, state };
}

function setup(options: { fallback?: boolean; failoverAfterAttempts?: number } = {}) {
  const ntfy = switchable('ntfy');
  const telegram = switchable('telegram');
  const context = testStageContext({ notifier: ntfy.notifier as never });
  const outbox = {
    retryInitialMs: 1000,
    retryMaxMs: 8000,
    failoverAfterAttempts: options.failoverAfterAttempts ?? 3,
    failoverAfterMs: 3_600_000,
    pollMs: 60_000,
    ...(options.fallback ? { fallbacks: [telegram.notifier] } : {}),
  };
  const stage = new NotificationStage(context, { signer, publicUrl: 'https://fish.test', owner: 'one', outbox });
  /** Moves the clock on and runs one pass over due rows, as the poll timer does. */
  const later = async (ms: number) => {
    context.clock.advance(ms);
    await stage.start();
    stage.stop();
  };
  return { context, stage, ntfy, telegram, later };
}

describe('delivery outbox', () => {
  it('writes the notification before sending, retries with back-off while the notifier is down, and delivers it once', async () => {
    const { context, stage, ntfy, later } = setup();
    ntfy.state.down = true;
    await stage.escalate(escalation, { incidentId: 'inc_1' });
    expect(await stage.backlog()).toMatchObject({ pending: 1 });
    const [row] = await context.audit.listOutbox({ status: 'pending' });
    expect(row).toMatchObject({ kind: 'escalation', attempts: 1, failures: { ntfy: 1 }, lastError: expect.stringContaining('ECONNREFUSED') });
    expect(Date.parse(row!.nextAttemptAt) - context.clock.now()).toBeGreaterThanOrEqual(750);

    await later(100); // not due yet: no call
    expect(ntfy.state.calls).toBe(1);
    await later(1000); // due: fails again, the back-off doubles
    expect(ntfy.state.calls).toBe(2);
    const [again] = await context.audit.listOutbox({ status: 'pending' });
    expect(Date.parse(again!.nextAttemptAt) - context.clock.now()).toBeGreaterThanOrEqual(1500);

    ntfy.state.down = false;
    await later(2000);
    await later(60_000);
    expect(ntfy.got).toEqual([{ type: 'notify', text: 'verify exited 1' }]);
    expect(await stage.backlog()).toEqual({ pending: 0 });
    const notifications = await context.audit.listNotifications();
    expect(notifications.map((notification) => notification.ok)).toEqual([true, false, false]);
    expect((await context.audit.history({ entityId: row!.id })).map((entry) => entry.action)).toEqual(['queued', 'retry', 'retry', 'sent']);
  });

  it('hands the notification to the next notifier after N failures, and says so in the message', async () => {
    const { context, stage, ntfy, telegram, later } = setup({ fallback: true, failoverAfterAttempts: 3 });
    ntfy.state.down = true;
    await stage.escalate(escalation, {});
    for (let i = 0; i < 2; i++) await later(10_000);
    expect(ntfy.state.calls).toBe(3);
    expect(telegram.got).toEqual([{ type: 'notify', text: 'verify exited 1\n\n_(delivered via telegram after ntfy failed 3×)_' }]);
    const [sent] = await context.audit.listOutbox({ status: 'sent' });
    expect(sent).toMatchObject({ channel: 'telegram', receiptId: 'telegram-1', failures: { ntfy: 3 } });
    await later(60_000);
    expect(telegram.got).toHaveLength(1);
    expect(ntfy.got).toEqual([]);
  });

  it("keeps a proposal's update behind the proposal while it is undelivered, and edits the message of the notifier that delivered it", async () => {
    const { context, stage, ntfy, later } = setup();
    const proposal = await seedProposal(context.audit, context.clock.now());
    ntfy.state.down = true;
    await stage.propose(proposal, incident, pattern);
    ntfy.state.down = false;
    await stage.update(proposal, 'expired', 'nobody decided');
    expect(ntfy.got).toEqual([]); // the update does not overtake the proposal
    await later(5000);
    expect(ntfy.got.map((item) => item.type)).toEqual(['propose', 'update:ntfy-1']);
    expect(signer.verify(ntfy.got[0]!.approveToken!, 'approve', context.clock.now())).toMatchObject({ ok: true, claims: { proposalId: proposal.id } });
    expect((await context.audit.getProposal(proposal.id))?.notificationId).toBe('ntfy-1');
  });

  it('gives up on a notification at its expiry and records why', async () => {
    const { context, stage, ntfy, later } = setup();
    const proposal = await seedProposal(context.audit, context.clock.now(), { ttlMs: 30_000 });
    ntfy.state.down = true;
    await stage.propose(proposal, incident, pattern);
    await later(31_000);
    expect(await context.audit.listOutbox({ status: 'expired' })).toEqual([
      expect.objectContaining({ kind: 'proposal', lastError: expect.stringMatching(/^not delivered before it expired .* last: .*ECONNREFUSED/) }),
    ]);
    expect(context.counters.get('notificationsExpired')).toBe(1);
    expect(await stage.backlog()).toEqual({ pending: 0 });
  });

  it('resumes on start what a run that died mid-send left claimed', async () => {
    const { context, stage, ntfy } = setup();
    ntfy.state.down = true;
    await stage.escalate(escalation, {});
    const [row] = await context.audit.listOutbox({ status: 'pending' });
    // the previous run claimed it again and died before settling
    await context.audit.claimOutbox({ id: row!.id, owner: 'dead-run', at: context.now(), until: new Date(context.clock.now() + 3_600_000).toISOString() });
    ntfy.state.down = false;
    context.clock.advance(5000);
    const restarted = new NotificationStage(context, { signer, publicUrl: 'https://fish.test', owner: 'two', outbox: { pollMs: 60_000 } });
    await restarted.start();
    restarted.stop();
    expect(ntfy.got).toEqual([{ type: 'notify', text: 'verify exited 1' }]);
    expect((await context.audit.history({ entityId: 'system' })).map((entry) => entry.action)).toContain('resume-notification');
  });
});
