import type { ProposalRecord } from '../../contracts/records.js';
import type { StageContext } from './context.js';
import type { Cooldowns } from './cooldowns.js';
import type { DecisionStage } from './decisions.js';
import type { ExecutionStage } from './execution.js';
import { approvedTooLongAgo, interruptedDetail, interruptedEscalation } from './messages.js';
import type { NotificationStage } from './notifications.js';
import type { RoutingStage } from './routing.js';

export interface RecoveryOptions {
  cooldowns: Cooldowns;
  /** Cooldown of an UNKNOWN incident (no candidates), to rebuild its cooldown. */
  unknownCooldownMs: number;
  /**
   * Set when several instances share the store: an unfinished execution is taken over only once
   * its owner's lease (this long) expired, never while a live peer runs it.
   */
  sharedLeaseMs?: number;
  /**
   * An approved proposal with no execution row is run at restart only this long after its
   * decision; an older one is not run (the situation it was approved for may be gone) but
   * marked and escalated.
   */
  resumeWindowMs: number;
  /** How long an unattended run is announced before it starts (the routing stage's Deny window). */
  autoExecDenyWindowMs: number;
}

/**
 * After a crash: an execution that was pending, running or verifying is marked `interrupted`
 * and escalated — never re-run by itself, since the fix may have half-happened. An approved
 * proposal with no execution row had nothing started, so it runs now if it was decided within
 * `resumeWindowMs`; an older approval is marked (its execution row ends escalated, nothing run)
 * and escalated. An open proposal whose
 * notification was never recorded is sent again (else nobody could ever approve it; an auto-exec
 * one as an approval request, since nobody was told it would run by itself), and the
 * incident cooldowns are rebuilt, so a source re-reading what it already read (the file
 * source, a Loki lookback) does not propose the same incident a second time.
 */
export class RecoveryStage {
  constructor(
    private readonly context: StageContext,
    private readonly stages: { notifications: NotificationStage; decisions: DecisionStage; execution: ExecutionStage; routing: RoutingStage },
    private readonly options: RecoveryOptions,
  ) {}

  async recover(): Promise<void> {
    const { audit, clock } = this.context;
    const { notifications, decisions, execution: runner } = this.stages;
    await this.restoreCooldowns();
    // `interrupted` is never final: one found here was marked by a recovery (or an execution)
    // that itself died before escalating, so it is escalated now.
    await this.takeOverUnfinished();
    for (const proposal of await audit.listProposals({ status: 'approved', limit: 1000 })) {
      if (await audit.getExecutionByProposal(proposal.id)) continue;
      const decidedAt = Date.parse(proposal.decidedAt ?? proposal.createdAt);
      if (clock.now() - decidedAt > this.options.resumeWindowMs) {
        await this.expireAfterRestart(proposal, decidedAt);
        continue;
      }
      await audit.recordSystemEvent('resume-approved', { proposalId: proposal.id }, this.context.now());
      void this.context.tasks.track(runner.execute(proposal));
    }
    for (const proposal of await audit.listProposals({ status: 'proposed', limit: 1000 })) {
      if (Date.parse(proposal.expiresAt) <= clock.now()) continue;
      if (proposal.autoExec) {
        await this.resumeAutoExec(proposal);
        continue;
      }
      if (proposal.notificationId !== undefined) continue;
      // A live peer may be sending this one right now: only an old enough one was lost.
      if (this.options.sharedLeaseMs !== undefined && Date.parse(proposal.createdAt) > clock.now() - this.options.sharedLeaseMs) continue;
      // One in the outbox is resumed there (or was delivered, or given up on): not sent again here.
      if ((await audit.listOutbox({ proposalId: proposal.id, limit: 50 })).some((row) => row.kind === 'proposal')) continue;
      const incident = await audit.getIncident(proposal.incidentId);
      const pattern = this.context.catalog().patterns.find((candidate) => candidate.id === proposal.patternId);
      if (!incident || !pattern) continue;
      await audit.recordSystemEvent('resume-notification', { proposalId: proposal.id }, this.context.now());
      await notifications.propose(proposal, incident, pattern);
    }
    await decisions.expireProposals();
  }

  /**
   * An auto-exec proposal still open (a live peer's Deny window is left to it). Announced before
   * the restart: its Deny window was cut, it is announced again (or expired). Never announced:
   * nobody was told it would run, so it waits for a human, and what is sent says so. Already
   * turned into an approval request: an ordinary proposal (the outbox resumes its sending).
   */
  private async resumeAutoExec(proposal: ProposalRecord): Promise<void> {
    const { routing, notifications } = this.stages;
    const shared = this.options.sharedLeaseMs;
    if (shared !== undefined && Date.parse(proposal.createdAt) + this.options.autoExecDenyWindowMs + shared >= this.context.clock.now()) return;
    const latest = await notifications.latestProposalNotice(proposal);
    // Rows written before the outbox existed: the receipt on the proposal says it was sent.
    let announced = latest ? latest.unattended && latest.row.status === 'sent' : proposal.notificationId !== undefined;
    if (latest && !latest.unattended) return;
    if (!announced) announced = (await routing.resumeUnannounced(proposal, shared === undefined)) === 'announced';
    if (announced) await routing.resumeAnnounced(proposal, this.options.resumeWindowMs);
  }

  /**
   * Marks `interrupted` and escalates, once, every execution whose runner is gone. Alone on the
   * store, that is every unfinished one. With peers (`sharedLeaseMs`), only those whose lease
   * expired (the store checks it in the same compare-and-set), and an `interrupted` one only when
   * no peer has touched it for a lease (else the peer escalating it is alive). Run at start and,
   * with peers, periodically: the survivor of a crashed instance escalates its fix.
   */
  async takeOverUnfinished(): Promise<void> {
    const { audit, clock } = this.context;
    const runner = this.stages.execution;
    const shared = this.options.sharedLeaseMs;
    const unfinished = await audit.listExecutions({ status: ['pending', 'running', 'verifying', 'interrupted'], limit: 1000 });
    for (const execution of unfinished) {
      if (execution.status !== 'interrupted') {
        if (shared !== undefined && execution.leaseExpiresAt !== undefined && Date.parse(execution.leaseExpiresAt) > clock.now()) continue;
        const interrupted = await audit.transitionExecution({
          id: execution.id,
          from: ['pending', 'running', 'verifying'],
          to: 'interrupted',
          at: this.context.now(),
          detail: interruptedDetail(execution.status),
          ...(shared !== undefined ? { onlyIfLeaseExpired: true } : {}),
        });
        if (!interrupted) continue;
        this.context.emit('execution', interrupted);
      } else if (shared !== undefined && Date.parse(execution.updatedAt) > clock.now() - shared) {
        continue;
      }
      const proposal = await audit.getProposal(execution.proposalId);
      if (!proposal) continue;
      const body = interruptedEscalation(execution.patternId, execution.targetHost, execution.status);
      // The compare-and-set decides who escalates: one notification, whichever instance wins.
      if (await runner.transition(execution.id, ['interrupted'], 'escalated', undefined, body)) await runner.escalate(proposal, execution.id, body, false);
    }
  }

  /**
   * An approval too old to act on: an execution row records it (created, then interrupted and
   * escalated with the reason, so exactly one path can claim it), nothing runs, a human is told.
   */
  private async expireAfterRestart(proposal: ProposalRecord, decidedAt: number): Promise<void> {
    const { audit } = this.context;
    const runner = this.stages.execution;
    const ageMs = this.context.clock.now() - decidedAt;
    const text = approvedTooLongAgo(proposal, ageMs, this.options.resumeWindowMs);
    const executionId = await runner.claim(proposal);
    if (executionId === undefined) return; // A peer claimed it meanwhile.
    const now = this.context.now();
    await audit.recordSystemEvent('expired-after-restart', { proposalId: proposal.id, executionId, decidedAt: proposal.decidedAt ?? null, ageMs, windowMs: this.options.resumeWindowMs }, now);
    if (!(await runner.transition(executionId, ['pending'], 'interrupted', undefined, text.detail))) return;
    await runner.escalate(proposal, executionId, text.escalation);
  }

  /** Cooldowns live in memory: rebuild them from the incidents in the audit trail. */
  private async restoreCooldowns(): Promise<void> {
    const patterns = new Map(this.context.catalog().patterns.map((pattern) => [pattern.id, pattern]));
    for (const incident of await this.context.audit.listIncidents({ limit: 1000 })) {
      const cooldown = incident.candidates.length === 0 ? this.options.unknownCooldownMs : Math.max(0, ...incident.candidates.map((id) => patterns.get(id)?.cooldown ?? 0));
      this.options.cooldowns.extend(incident.fingerprint, Date.parse(incident.firstSeen) + cooldown);
    }
  }
}
