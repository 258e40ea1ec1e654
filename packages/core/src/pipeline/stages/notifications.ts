import type { ApprovalSigner } from '../../approval/approval-token.js';
import type { Pattern } from '../../catalog/catalog-schema.js';
import type { Notifier, NotifierMessage, NotificationReceipt, ProposalActions, ProposalNotice, ProposalUpdate, ProposalUpdateStatus } from '../../contracts/notifier.js';
import type { IncidentRecord, OutboxRecord, ProposalRecord } from '../../contracts/records.js';
import type { StageContext } from './context.js';
import { proposalSummary, updateFallback, updateTitle, withFailoverNote, type ProposalAnnouncement } from './messages.js';
import { Outbox, type OutboxOptions } from './outbox.js';

export interface NotificationOptions {
  /** Signs the Approve/Deny links. */
  signer: ApprovalSigner;
  /** Base URL of the approval endpoint as the phone reaches it. */
  publicUrl: string;
  /** This instance's name: it claims the outbox rows it sends. @default 'local' */
  owner?: string;
  /** Fallback notifiers, retries and expiry. */
  outbox?: OutboxOptions;
}

/** What an outbox row carries: exactly one of these. Signed links are never stored, only made when sent. */
interface Payload {
  notice?: ProposalNotice;
  /** With a notice: whether its text announces an unattended run. Absent on rows written before it was recorded: the proposal's `autoExec` said it then. */
  mode?: ProposalAnnouncement['mode'];
  update?: Omit<ProposalUpdate, 'receipt'> & { receiptId?: string };
  fallback?: NotifierMessage;
  message?: NotifierMessage;
}

/**
 * The one place that talks to notifiers: proposals with their signed links, escalations and
 * status updates. Each goes through the delivery outbox (written to the audit store first,
 * retried, handed to a fallback notifier); a failed send is recorded and reported, never thrown,
 * so a notifier outage does not stop the loop.
 */
export class NotificationStage {
  private readonly outbox: Outbox;

  constructor(
    private readonly context: StageContext,
    private readonly options: NotificationOptions,
  ) {
    this.outbox = new Outbox(
      context,
      { deliver: (notifier, entry, note) => this.deliver(notifier, entry, note), delivered: (entry, receipt) => this.delivered(entry, receipt) },
      options.owner ?? 'local',
      options.outbox,
    );
  }

  /** The signed Approve/Deny links (and their tokens, for channels that carry the decision back) and the detail page of a proposal. */
  links(proposal: Pick<ProposalRecord, 'id' | 'expiresAt'>): ProposalActions {
    const expires = Date.parse(proposal.expiresAt);
    const base = this.options.publicUrl.replace(/\/+$/, '');
    const approveToken = this.options.signer.sign(proposal.id, 'approve', expires);
    const denyToken = this.options.signer.sign(proposal.id, 'deny', expires);
    return { approveUrl: `${base}/approve/${approveToken}`, denyUrl: `${base}/deny/${denyToken}`, viewUrl: `${base}/proposals/${proposal.id}`, approveToken, denyToken };
  }

  /** Resumes undelivered notifications left by an earlier run, then retries due ones in the background. */
  start(): Promise<void> {
    return this.outbox.start();
  }

  stop(): void {
    this.outbox.stop();
  }

  /** Notifications not delivered yet, and the oldest one's creation time. */
  backlog(): Promise<{ pending: number; oldestCreatedAt?: string }> {
    return this.outbox.backlog();
  }

  /**
   * Sends a proposal with its signed links; the receipt id on the proposal row records that it
   * went out. `announcement` says what its text promises: an unattended run (only the routing
   * stage, which then runs it after the Deny window), or a wait for approval (the default).
   */
  async propose(proposal: ProposalRecord, incident: IncidentRecord, pattern: Pattern, announcement: ProposalAnnouncement = { mode: 'approval' }): Promise<void> {
    if (!pattern.fix) return;
    this.context.emit('proposal', proposal, this.links(proposal));
    const notice: ProposalNotice = {
      proposalId: proposal.id,
      incidentId: incident.id,
      patternId: pattern.id,
      title: pattern.title,
      host: proposal.targetHost,
      service: incident.service,
      confidence: proposal.confidence,
      summary: proposalSummary(pattern, proposal, announcement),
      evidence: incident.evidence.slice(-5),
      createdAt: proposal.createdAt,
      expiresAt: proposal.expiresAt,
      dryRun: proposal.dryRun,
    };
    await this.send({ kind: 'proposal', title: pattern.title, proposalId: proposal.id, incidentId: incident.id, payload: { notice, mode: announcement.mode }, expiresAt: proposal.expiresAt });
  }

  /**
   * The newest proposal notification of `proposal` in the outbox (pending, sent or given up),
   * and whether its text announces an unattended run; undefined when none was written.
   */
  async latestProposalNotice(proposal: Pick<ProposalRecord, 'id' | 'autoExec'>): Promise<{ row: OutboxRecord; unattended: boolean } | undefined> {
    const rows = (await this.context.audit.listOutbox({ proposalId: proposal.id, limit: 100 })).filter((row) => row.kind === 'proposal');
    const row = rows.at(-1);
    if (!row) return undefined;
    const mode = (row.payload as Payload).mode;
    return { row, unattended: mode === undefined ? proposal.autoExec : mode === 'unattended' };
  }

  /**
   * An auto-exec proposal whose announcement was not delivered (and now never will be: it waits
   * for a human): every pending announcement of it is withdrawn from the outbox, so that its
   * "runs by itself" text is never sent, and an approval request that says why is sent instead.
   * A send in progress is never overtaken: `busy` then (look again once it ended), and
   * `announced` when the announcement was delivered after all.
   */
  async withdrawAnnouncement(proposal: ProposalRecord, incident: IncidentRecord, pattern: Pattern, reason: string, staleClaims = false): Promise<'withdrawn' | 'announced' | 'busy'> {
    const latest = await this.latestProposalNotice(proposal);
    if (latest?.unattended && latest.row.status === 'sent') return 'announced';
    const pending = (await this.context.audit.listOutbox({ proposalId: proposal.id, status: 'pending', limit: 100 })).filter(
      (row) => row.kind === 'proposal' && (row.payload as Payload).mode !== 'approval',
    );
    for (const row of pending) {
      if (await this.outbox.withdraw(row, reason, staleClaims)) continue;
      const status = (await this.context.audit.listOutbox({ proposalId: proposal.id, limit: 100 })).find((candidate) => candidate.id === row.id)?.status;
      if (status === 'sent') return 'announced';
      if (status === 'pending') return 'busy';
    }
    if (latest && !latest.unattended && latest.row.status !== 'expired') return 'withdrawn'; // already asked for an approval
    await this.propose(proposal, incident, pattern, { mode: 'approval', withdrawn: reason });
    return 'withdrawn';
  }

  /** Sends a message that needs a human (no fix, UNKNOWN, a failed fix, a budget warning). */
  async escalate(message: NotifierMessage, ids: { incidentId?: string; proposalId?: string }): Promise<void> {
    this.context.emit('escalation', message);
    await this.send({ kind: message.kind, title: message.title, ...ids, payload: { message } });
  }

  /** Tells the human what became of a proposal (edits the proposal message where the notifier can). */
  async update(proposal: ProposalRecord, status: ProposalUpdateStatus, detail: string, actor?: string): Promise<void> {
    const update = { proposalId: proposal.id, status, detail, ...(actor ? { actor } : {}), ...(proposal.notificationId ? { receiptId: proposal.notificationId } : {}) };
    await this.send({ kind: 'update', title: updateTitle(proposal, status), proposalId: proposal.id, payload: { update, fallback: updateFallback(proposal, status, detail) } });
  }

  /** Sends an update in the background (tracked: stop() waits for it). */
  updateLater(proposal: ProposalRecord, status: ProposalUpdateStatus, detail: string, actor?: string): void {
    void this.context.tasks.track(this.update(proposal, status, detail, actor));
  }

  /** Into the outbox; a store that cannot record it is reported, never thrown (the loop goes on). */
  private async send(item: Parameters<Outbox['enqueue']>[0]): Promise<void> {
    try {
      await this.outbox.enqueue(item);
    } catch (error) {
      this.context.fail(error);
    }
  }

  private async deliver(notifier: Notifier, entry: OutboxRecord, note: string | undefined): Promise<NotificationReceipt | undefined> {
    const payload = entry.payload as Payload;
    if (payload.notice) {
      const notice = note === undefined ? payload.notice : { ...payload.notice, summary: `${payload.notice.summary}\n\n_(${note})_` };
      const receipt = await notifier.propose(notice, this.links({ id: notice.proposalId, expiresAt: notice.expiresAt }));
      this.context.checkpoint('notification-sent');
      return receipt;
    }
    if (payload.update) {
      const { receiptId, ...update } = payload.update;
      if (!notifier.update) return notifier.notify(withFailoverNote(payload.fallback ?? { kind: 'info', title: entry.title, body: update.detail, priority: 'default' }, note));
      const receipt = await this.proposalReceipt(update.proposalId, receiptId, notifier);
      return (await notifier.update({ ...update, ...(note !== undefined ? { detail: `${update.detail} (${note})` } : {}), ...(receipt ? { receipt } : {}) })) ?? undefined;
    }
    return notifier.notify(withFailoverNote(payload.message!, note));
  }

  /** The receipt of the proposal's own notification, when `notifier` is the one that delivered it. */
  private async proposalReceipt(proposalId: string, known: string | undefined, notifier: Notifier): Promise<NotificationReceipt | undefined> {
    const id = (await this.context.audit.getProposal(proposalId))?.notificationId ?? known;
    if (id === undefined) return undefined;
    const delivered = (await this.context.audit.listOutbox({ proposalId, status: 'sent', limit: 20 })).find((row) => row.kind === 'proposal');
    const channel = delivered?.channel ?? this.outbox.chain[0]!.name;
    return channel === notifier.name ? { id, channel } : undefined;
  }

  private async delivered(entry: OutboxRecord, receipt: NotificationReceipt | undefined): Promise<void> {
    if (entry.kind === 'proposal' && entry.proposalId !== undefined && receipt) await this.context.audit.setProposalNotification(entry.proposalId, receipt.id);
  }
}
