import { randomUUID } from 'node:crypto';
import type { Pattern } from '../../catalog/catalog-schema.js';
import { pinPattern } from '../../catalog/pattern-pin.js';
import type { IncidentRecord, ProposalRecord } from '../../contracts/records.js';
import { toIso } from '../../util/clock.js';
import { formatDuration } from '../../util/duration.js';
import { sleep } from '../../util/sleep.js';
import { redactSecrets } from '../../util/redact.js';
import type { Classifier } from '../classifier.js';
import type { AutoExecPolicy } from './auto-exec-policy.js';
import type { StageContext } from './context.js';
import type { DetectedIncident } from './detection.js';
import { AUTO_EXEC_WITHDRAWN, autoExecAfterRestart, diagnosisOnly, escalation, noFixTarget } from './messages.js';
import type { NotificationStage } from './notifications.js';
import type { UnknownIncidentStage } from './unknown-incidents.js';

/** Event-supplied target placeholder: the event's host, looked up among configured targets. */
export const EVENT_HOST_TARGET = '$event_host';

/** How often an announcement being sent at the end of its Deny window is looked at again. */
const ANNOUNCEMENT_RECHECK_MS = 250;

export interface RoutingOptions {
  classifier: Classifier;
  autoExec: AutoExecPolicy;
  /** Host names fixes may run on. */
  targets: () => string[];
  dryRun: boolean;
  proposalTtlMs: number;
  /** Cancels a classification in progress when the engine stops. */
  signal: () => AbortSignal;
  /** Runs an approved proposal (the execution stage, handed in by the facade). */
  execute: (proposal: ProposalRecord) => Promise<void>;
  /**
   * An unattended run is announced (the proposal notification, with its Deny button) this long
   * before it starts; a deny in the window cancels it. 0 runs at once (still notified after).
   */
  autoExecDenyWindowMs: number;
}

/**
 * A detected incident becomes one of three things: a proposal (a known pattern with a fix on a
 * configured target), an escalation (known, but nothing safe to run), or an UNKNOWN bundle.
 * The incident row is written first; a proposal that earned auto-exec is approved and run here.
 */
export class RoutingStage {
  constructor(
    private readonly context: StageContext,
    private readonly notifications: NotificationStage,
    private readonly unknown: UnknownIncidentStage,
    private readonly options: RoutingOptions,
  ) {}

  async route(detected: DetectedIncident): Promise<void> {
    const started = this.context.clock.now();
    const outcome = await this.routeIncident(detected);
    this.context.counters.observe('incidentRouting', this.context.clock.now() - started, { outcome });
  }

  private async routeIncident(detected: DetectedIncident): Promise<'proposal' | 'auto-exec' | 'escalation' | 'unknown'> {
    const { audit } = this.context;
    const catalog = this.context.catalog();
    const classification = await this.options.classifier.classify(
      { fingerprint: detected.fingerprint, host: detected.host, service: detected.service, candidates: detected.candidates, evidence: detected.evidence, catalog: catalog.patterns },
      this.options.signal(),
    );
    const incident: IncidentRecord = {
      id: `inc_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      fingerprint: detected.fingerprint,
      host: detected.host,
      service: detected.service,
      patternId: classification.patternId,
      candidates: detected.candidates.map((candidate) => candidate.pattern.id),
      confidence: classification.confidence,
      method: classification.method,
      reason: redactSecrets(classification.reason),
      evidence: detected.evidence,
      eventCount: detected.evidence.length,
      firstSeen: toIso(detected.firstSeen),
      lastSeen: this.context.now(),
      createdAt: this.context.now(),
    };
    await audit.insertIncident(incident);
    detected.onRecorded?.();
    this.context.emit('incident', incident);
    const pattern = catalog.patterns.find((candidate) => candidate.id === classification.patternId);
    if (!pattern) {
      await this.unknown.handle(incident, classification);
      return 'unknown';
    }
    if (!pattern.fix) {
      await this.notifications.escalate(diagnosisOnly(pattern, incident), { incidentId: incident.id });
      return 'escalation';
    }
    const targetHost = this.resolveTarget(pattern, incident.host);
    if (!targetHost) {
      await this.notifications.escalate(noFixTarget(pattern, incident), { incidentId: incident.id });
      return 'escalation';
    }
    const verdict = await this.options.autoExec.evaluate(pattern, targetHost);
    const createdAt = this.context.clock.now();
    const proposal: ProposalRecord = {
      id: `prop_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      incidentId: incident.id,
      patternId: pattern.id,
      targetHost,
      service: incident.service,
      confidence: classification.confidence,
      status: 'proposed',
      dryRun: this.options.dryRun,
      autoExec: verdict.autoExec,
      createdAt: toIso(createdAt),
      expiresAt: toIso(createdAt + this.options.proposalTtlMs),
      // What is shown is what runs: the scripts and their digests, refused at execution if changed.
      pin: pinPattern(pattern, catalog),
    };
    await audit.insertProposal(proposal);
    this.context.checkpoint('proposal-written');
    this.context.counters.add('proposals', { pattern: pattern.id });
    if (verdict.autoExec) {
      const window = this.options.autoExecDenyWindowMs;
      if (window <= 0) {
        await this.runUnattended(proposal, verdict.reason);
        return 'auto-exec';
      }
      // Announced first: the notification carries the usual Deny (and Approve) buttons.
      await this.notifications.propose(proposal, incident, pattern, { mode: 'unattended', windowMs: window });
      void this.context.tasks.track(this.afterDenyWindow(proposal, incident, pattern, verdict.reason, window));
      return 'auto-exec';
    }
    await this.notifications.propose(proposal, incident, pattern);
    return 'proposal';
  }

  /**
   * The deny window is over: runs the fix unless a human decided meanwhile (the compare-and-set
   * from `proposed` fails: a deny cancelled it, an approve already ran it) or the announcement
   * was not delivered (nobody was told: it waits for a human like any proposal, and the
   * announcement still in the outbox is replaced by an approval request, so no message says it
   * runs by itself). An announcement being sent right now is waited for; one delivered late
   * gives the human the whole window from its delivery. Nothing runs when the engine stops.
   */
  private async afterDenyWindow(proposal: ProposalRecord, incident: IncidentRecord, pattern: Pattern, reason: string, windowMs: number): Promise<void> {
    const { audit } = this.context;
    const signal = this.options.signal();
    await sleep(windowMs, signal);
    let extended = false;
    while (!signal.aborted) {
      const current = await audit.getProposal(proposal.id);
      if (current?.status !== 'proposed') {
        await audit.recordSystemEvent('auto-exec-cancelled', { proposalId: proposal.id, status: current?.status ?? null, by: current?.decidedBy ?? null }, this.context.now());
        return;
      }
      const latest = await this.notifications.latestProposalNotice(current);
      if (latest?.unattended && latest.row.status === 'sent') {
        const lateMs = Date.parse(latest.row.settledAt ?? latest.row.createdAt) - Date.parse(latest.row.createdAt);
        if (!extended && lateMs > 0) {
          extended = true;
          await sleep(lateMs, signal);
          continue;
        }
        return this.runUnattended(current, `${reason}; announced ${formatDuration(windowMs)} before, no deny`);
      }
      const withdrawn = AUTO_EXEC_WITHDRAWN.notDelivered(windowMs);
      const outcome = await this.notifications.withdrawAnnouncement(current, incident, pattern, withdrawn);
      if (outcome === 'withdrawn') {
        await audit.recordSystemEvent('auto-exec-not-announced', { proposalId: proposal.id, reason: withdrawn }, this.context.now());
        return;
      }
      // 'busy': a send is in progress; 'announced': delivered just now (looked at again above).
      if (outcome === 'busy') await sleep(ANNOUNCEMENT_RECHECK_MS, signal);
    }
  }

  /**
   * At restart, an unattended run that was announced but whose Deny window the restart cut. Still
   * earned and within `resumeWindowMs` after the window would have ended: announced again with a
   * fresh Deny window (recorded as re-announced after restart). Later (or its pattern or incident
   * gone): not run by itself, the proposal expired with the reason, and a human told. No longer
   * earned: it waits for a human, as any proposal.
   */
  async resumeAnnounced(proposal: ProposalRecord, resumeWindowMs: number): Promise<void> {
    const { audit } = this.context;
    const window = this.options.autoExecDenyWindowMs;
    const lateMs = this.context.clock.now() - (Date.parse(proposal.createdAt) + window);
    const text = autoExecAfterRestart(proposal, window, lateMs, resumeWindowMs);
    const incident = await audit.getIncident(proposal.incidentId);
    const pattern = this.context.catalog().patterns.find((candidate) => candidate.id === proposal.patternId);
    if (lateMs > resumeWindowMs || !incident || !pattern) {
      const expired = await audit.transitionProposal({ id: proposal.id, from: 'proposed', to: 'expired', at: this.context.now(), actor: 'system', reason: text.expired });
      if (!expired) return;
      this.context.emit('decision', expired);
      await this.notifications.escalate(escalation(proposal, text.escalation), { proposalId: proposal.id, incidentId: proposal.incidentId });
      this.notifications.updateLater(expired, 'expired', text.expired);
      return;
    }
    const verdict = await this.options.autoExec.evaluate(pattern, proposal.targetHost);
    if (!verdict.autoExec) {
      // The human was told it runs by itself: they are asked for an approval now, saying why.
      await audit.recordSystemEvent('auto-exec-not-resumed', { proposalId: proposal.id, reason: `${AUTO_EXEC_WITHDRAWN.noLongerEarned}: it waits for a human` }, this.context.now());
      await this.notifications.propose(proposal, incident, pattern, { mode: 'approval', withdrawn: AUTO_EXEC_WITHDRAWN.noLongerEarned });
      return;
    }
    await audit.recordSystemEvent('auto-exec-reannounced', { proposalId: proposal.id, reason: text.reannounced, windowMs: window }, this.context.now());
    await this.notifications.propose(proposal, incident, pattern, { mode: 'unattended', windowMs: window });
    void this.context.tasks.track(this.afterDenyWindow(proposal, incident, pattern, `${verdict.reason}; ${text.reannounced}`, window));
  }

  /**
   * At restart, an auto-exec proposal whose announcement was never delivered: nobody was told it
   * would run, so it waits for a human. Its announcement is withdrawn from the outbox and an
   * approval request that says why is sent instead. `busy`: a peer is sending it right now (left
   * to it); `announced`: it was delivered after all (the caller resumes it as announced).
   */
  async resumeUnannounced(proposal: ProposalRecord, staleClaims: boolean): Promise<'withdrawn' | 'announced' | 'busy'> {
    const incident = await this.context.audit.getIncident(proposal.incidentId);
    const pattern = this.context.catalog().patterns.find((candidate) => candidate.id === proposal.patternId);
    if (!incident || !pattern?.fix) return 'withdrawn';
    const outcome = await this.notifications.withdrawAnnouncement(proposal, incident, pattern, AUTO_EXEC_WITHDRAWN.restart, staleClaims);
    if (outcome === 'withdrawn') await this.context.audit.recordSystemEvent('auto-exec-not-announced', { proposalId: proposal.id, reason: AUTO_EXEC_WITHDRAWN.restart }, this.context.now());
    return outcome;
  }

  private async runUnattended(proposal: ProposalRecord, reason: string): Promise<void> {
    const approved = await this.context.audit.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: this.context.now(), actor: 'auto-exec', reason });
    if (!approved) return;
    this.context.emit('decision', approved);
    await this.options.execute(approved);
  }

  /** The pattern's target must be a configured target: a host named by an event is looked up, never trusted. */
  private resolveTarget(pattern: Pattern, eventHost: string): string | undefined {
    const wanted = pattern.target_host === EVENT_HOST_TARGET ? eventHost : pattern.target_host;
    return this.options.targets().includes(wanted) ? wanted : undefined;
  }
}
