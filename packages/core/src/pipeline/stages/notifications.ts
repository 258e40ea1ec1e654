import { randomUUID } from 'node:crypto';
import type { ApprovalSigner } from '../../approval/approval-token.js';
import type { Pattern } from '../../catalog/catalog-schema.js';
import type { NotifierMessage, ProposalUpdateStatus } from '../../contracts/notifier.js';
import type { IncidentRecord, ProposalRecord } from '../../contracts/records.js';
import { describeError } from '../../errors.js';
import { redactSecrets } from '../../util/redact.js';
import type { ProposalLinks, StageContext } from './context.js';
import { proposalSummary, updateFallback, updateTitle } from './messages.js';

export interface NotificationOptions {
  /** Signs the Approve/Deny links. */
  signer: ApprovalSigner;
  /** Base URL of the approval endpoint as the phone reaches it. */
  publicUrl: string;
}

/** What the audit trail records about one notifier call. */
interface NotificationRow {
  kind: string;
  proposalId?: string;
  incidentId?: string;
  channel: string;
  receiptId?: string;
  title: string;
  ok: boolean;
  error?: string;
}

/**
 * The one place that talks to the notifier: proposals with their signed links, escalations and
 * status updates. Every call is recorded in the audit trail (sent or failed); a failed send is
 * reported, never thrown, so a notifier outage does not stop the loop.
 */
export class NotificationStage {
  constructor(
    private readonly context: StageContext,
    private readonly options: NotificationOptions,
  ) {}

  /** The signed Approve/Deny links and the detail page of a proposal. */
  links(proposal: ProposalRecord): ProposalLinks {
    const expires = Date.parse(proposal.expiresAt);
    const base = this.options.publicUrl.replace(/\/+$/, '');
    return {
      approveUrl: `${base}/approve/${this.options.signer.sign(proposal.id, 'approve', expires)}`,
      denyUrl: `${base}/deny/${this.options.signer.sign(proposal.id, 'deny', expires)}`,
      viewUrl: `${base}/proposals/${proposal.id}`,
    };
  }

  /** Sends a proposal with its signed links; the receipt id on the proposal row records that it went out. */
  async propose(proposal: ProposalRecord, incident: IncidentRecord, pattern: Pattern): Promise<void> {
    if (!pattern.fix) return;
    const { audit, notifier } = this.context;
    const links = this.links(proposal);
    this.context.emit('proposal', proposal, links);
    const started = this.context.clock.now();
    try {
      const receipt = await notifier.propose(
        {
          proposalId: proposal.id,
          incidentId: incident.id,
          patternId: pattern.id,
          title: pattern.title,
          host: proposal.targetHost,
          service: incident.service,
          confidence: proposal.confidence,
          summary: proposalSummary(pattern, proposal),
          evidence: incident.evidence.slice(-5),
          createdAt: proposal.createdAt,
          expiresAt: proposal.expiresAt,
          dryRun: proposal.dryRun,
        },
        links,
      );
      this.measure(started, 'proposal', true);
      this.context.checkpoint('notification-sent');
      await audit.setProposalNotification(proposal.id, receipt.id);
      await this.record({ kind: 'proposal', proposalId: proposal.id, incidentId: incident.id, channel: receipt.channel, receiptId: receipt.id, title: pattern.title, ok: true });
    } catch (error) {
      this.measure(started, 'proposal', false);
      await this.record({ kind: 'proposal', proposalId: proposal.id, incidentId: incident.id, channel: notifier.name, title: pattern.title, ok: false, error: describeError(error) });
      this.context.fail(error);
    }
  }

  /** Sends a message that needs a human (no fix, UNKNOWN, a failed fix). */
  async escalate(message: NotifierMessage, ids: { incidentId?: string; proposalId?: string }): Promise<void> {
    const { notifier } = this.context;
    this.context.emit('escalation', message);
    const started = this.context.clock.now();
    try {
      const receipt = await notifier.notify(message);
      this.measure(started, message.kind, true);
      await this.record({ kind: message.kind, ...ids, channel: receipt.channel, receiptId: receipt.id, title: message.title, ok: true });
    } catch (error) {
      this.measure(started, message.kind, false);
      await this.record({ kind: message.kind, ...ids, channel: notifier.name, title: message.title, ok: false, error: describeError(error) });
      this.context.fail(error);
    }
  }

  /** Tells the human what became of a proposal (edits the proposal message where the notifier can). */
  async update(proposal: ProposalRecord, status: ProposalUpdateStatus, detail: string, actor?: string): Promise<void> {
    const { notifier } = this.context;
    const started = this.context.clock.now();
    try {
      const update = { proposalId: proposal.id, status, detail, ...(actor ? { actor } : {}), ...(proposal.notificationId ? { receipt: { id: proposal.notificationId, channel: notifier.name } } : {}) };
      const receipt = notifier.update ? await notifier.update(update) : await notifier.notify(updateFallback(proposal, status, detail));
      this.measure(started, 'update', true);
      await this.record({ kind: 'update', proposalId: proposal.id, channel: receipt?.channel ?? notifier.name, ...(receipt ? { receiptId: receipt.id } : {}), title: updateTitle(proposal, status), ok: true });
    } catch (error) {
      this.measure(started, 'update', false);
      await this.record({ kind: 'update', proposalId: proposal.id, channel: notifier.name, title: updateTitle(proposal, status), ok: false, error: describeError(error) }).catch(() => undefined);
      this.context.fail(error);
    }
  }

  /** Sends an update in the background (tracked: stop() waits for it). */
  updateLater(proposal: ProposalRecord, status: ProposalUpdateStatus, detail: string, actor?: string): void {
    void this.context.tasks.track(this.update(proposal, status, detail, actor));
  }

  private measure(started: number, kind: string, ok: boolean): void {
    this.context.counters.add(ok ? 'notifications' : 'notificationFailures', { kind });
    this.context.counters.observe('notification', this.context.clock.now() - started, { kind, outcome: ok ? 'sent' : 'failed' });
  }

  private async record(notification: NotificationRow): Promise<void> {
    await this.context.audit.recordNotification({ id: `ntf_${randomUUID().replace(/-/g, '').slice(0, 20)}`, sentAt: this.context.now(), ...notification, ...(notification.error ? { error: redactSecrets(notification.error) } : {}) });
  }
}
