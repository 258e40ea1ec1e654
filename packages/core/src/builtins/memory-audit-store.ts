import type { AuditStore, BudgetReservation, BudgetSettlement, ExecutionTransition, ListFilter, ProposalTransition } from '../contracts/audit-store.js';
import {
  isLegalExecutionTransition,
  isLegalProposalTransition,
  type AuditEntry,
  type ExecutionRecord,
  type ExecutionStatus,
  type IncidentRecord,
  type LlmUsageRecord,
  type NotificationRecord,
  type ProposalRecord,
  type ProposalStatus,
} from '../contracts/records.js';
import { FishError, FishErrorCode, errorMessage } from '../errors.js';
import { truncateOutput } from '../util/truncate.js';
import { memoryAbsence } from './memory-absence.js';
import { memoryOutbox } from './memory-outbox.js';

const clone = <T>(value: T): T => structuredClone(value);

/** The statuses an owner keeps a lease on: the execution is still in its hands. */
const LEASED_STATUSES: readonly ExecutionStatus[] = ['pending', 'running', 'verifying'];

/** True when a lease (or lock, or claim) ending at `end` is over at `at`; no end means no holder. */
function leaseExpired(end: string | undefined, at: string): boolean {
  return end === undefined || Date.parse(end) <= Date.parse(at);
}

function statusMatches<S extends string>(status: S, filter: ListFilter<S>['status']): boolean {
  if (filter === undefined) return true;
  return typeof filter === 'string' ? status === filter : (filter as readonly S[]).includes(status);
}

/**
 * The reference AuditStore: everything in memory, every method atomic because nothing in it
 * awaits between its check and its write. Used by the demo, by tests, and as the model a plugin
 * author reads first. Nothing survives a restart: production uses audit-sqlite.
 */
export function createMemoryAuditStore(): AuditStore {
  const incidents = new Map<string, IncidentRecord>();
  const proposals = new Map<string, ProposalRecord>();
  const executions = new Map<string, ExecutionRecord>();
  const executionByProposal = new Map<string, string>();
  const notifications: NotificationRecord[] = [];
  const usage = new Map<string, LlmUsageRecord>();
  const log: AuditEntry[] = [];
  const hostLocks = new Map<string, { owner: string; expiresAt: string }>();
  const claims = new Map<string, { owner: string; until: string }>();

  const append = (entity: AuditEntry['entity'], entityId: string, action: string, data: Record<string, unknown>, at: string) => {
    log.push({ seq: log.length + 1, at, entity, entityId, action, data: clone(data) });
  };
  const newest = <T extends { createdAt: string }>(items: Iterable<T>, limit = 50) =>
    [...items]
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .slice(0, limit)
      .map(clone);
  const monthTotal = (month: string) => {
    let total = 0;
    for (const row of usage.values()) if (row.month === month) total += row.actualEur ?? row.reservedEur;
    return total;
  };

  return {
    specificationVersion: 'v1',
    name: 'memory',

    async insertIncident(incident) {
      if (incidents.has(incident.id)) throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage('audit', `incident ${incident.id} already exists`) });
      incidents.set(incident.id, clone(incident));
      append(
        'incident',
        incident.id,
        'created',
        { patternId: incident.patternId, host: incident.host, service: incident.service, confidence: incident.confidence, method: incident.method },
        incident.createdAt,
      );
    },
    async getIncident(id) {
      const found = incidents.get(id);
      return found && clone(found);
    },
    async listIncidents(filter = {}) {
      return newest(incidents.values(), filter.limit);
    },

    async insertProposal(proposal) {
      if (proposals.has(proposal.id)) throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage('audit', `proposal ${proposal.id} already exists`) });
      if (!incidents.has(proposal.incidentId))
        throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage('audit', `proposal ${proposal.id} refers to unknown incident ${proposal.incidentId}`) });
      proposals.set(proposal.id, clone(proposal));
      append(
        'proposal',
        proposal.id,
        'proposed',
        {
          incidentId: proposal.incidentId,
          patternId: proposal.patternId,
          targetHost: proposal.targetHost,
          dryRun: proposal.dryRun,
          autoExec: proposal.autoExec,
          expiresAt: proposal.expiresAt,
          ...(proposal.pin ? { pin: proposal.pin } : {}),
        },
        proposal.createdAt,
      );
    },
    async getProposal(id) {
      const found = proposals.get(id);
      return found && clone(found);
    },
    async listProposals(filter = {}) {
      return newest(
        [...proposals.values()].filter((proposal) => statusMatches<ProposalStatus>(proposal.status, filter.status)),
        filter.limit,
      );
    },
    async setProposalNotification(id, notificationId) {
      const proposal = proposals.get(id);
      if (proposal) proposal.notificationId = notificationId;
    },
    async transitionProposal(transition: ProposalTransition) {
      if (!isLegalProposalTransition(transition.from, transition.to)) {
        append('system', transition.id, 'transition-refused', { from: transition.from, to: transition.to, actor: transition.actor }, transition.at);
        throw new FishError({
          code: FishErrorCode.STATE_TRANSITION_ILLEGAL,
          message: errorMessage('audit', `proposal ${transition.id}: ${transition.from} -> ${transition.to} is not a legal transition`),
        });
      }
      const proposal = proposals.get(transition.id);
      if (!proposal || proposal.status !== transition.from) return undefined;
      proposal.status = transition.to;
      if (transition.to === 'approved' || transition.to === 'denied') {
        proposal.decidedAt = transition.at;
        proposal.decidedBy = transition.actor;
      }
      append(
        transition.to === 'expired' ? 'proposal' : 'decision',
        transition.id,
        transition.to,
        { from: transition.from, to: transition.to, actor: transition.actor, tokenId: transition.tokenId, reason: transition.reason },
        transition.at,
      );
      return clone(proposal);
    },

    async insertExecution(execution) {
      if (!proposals.has(execution.proposalId))
        throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage('audit', `execution ${execution.id} refers to unknown proposal ${execution.proposalId}`) });
      if (executionByProposal.has(execution.proposalId) || executions.has(execution.id)) return false;
      executions.set(execution.id, clone(execution));
      executionByProposal.set(execution.proposalId, execution.id);
      append(
        'execution',
        execution.id,
        execution.status,
        { proposalId: execution.proposalId, patternId: execution.patternId, targetHost: execution.targetHost, dryRun: execution.dryRun },
        execution.createdAt,
      );
      return true;
    },
    async getExecution(id) {
      const found = executions.get(id);
      return found && clone(found);
    },
    async getExecutionByProposal(proposalId) {
      const id = executionByProposal.get(proposalId);
      return id ? clone(executions.get(id)!) : undefined;
    },
    async listExecutions(filter = {}) {
      return newest(
        [...executions.values()].filter((execution) => statusMatches<ExecutionStatus>(execution.status, filter.status)),
        filter.limit,
      );
    },
    async transitionExecution(transition: ExecutionTransition) {
      const execution = executions.get(transition.id);
      if (!execution || !transition.from.includes(execution.status)) return undefined;
      if (transition.onlyIfLeaseExpired && !leaseExpired(execution.leaseExpiresAt, transition.at)) return undefined;
      if (!isLegalExecutionTransition(execution.status, transition.to)) {
        append('system', transition.id, 'transition-refused', { from: execution.status, to: transition.to }, transition.at);
        throw new FishError({
          code: FishErrorCode.STATE_TRANSITION_ILLEGAL,
          message: errorMessage('audit', `execution ${transition.id}: ${execution.status} -> ${transition.to} is not a legal transition`),
        });
      }
      const from = execution.status;
      execution.status = transition.to;
      execution.updatedAt = transition.at;
      if (transition.detail !== undefined) execution.detail = transition.detail;
      if (transition.appendStep) {
        execution.steps.push({ ...clone(transition.appendStep), stdout: truncateOutput(transition.appendStep.stdout), stderr: truncateOutput(transition.appendStep.stderr) });
      }
      append(
        'execution',
        transition.id,
        transition.to,
        {
          from,
          detail: transition.detail,
          step: transition.appendStep ? { verb: transition.appendStep.verb, exitCode: transition.appendStep.exitCode, timedOut: transition.appendStep.timedOut } : undefined,
        },
        transition.at,
      );
      return clone(execution);
    },

    async recordNotification(notification) {
      notifications.push(clone(notification));
      append(
        'notification',
        notification.id,
        notification.ok ? 'sent' : 'failed',
        { kind: notification.kind, proposalId: notification.proposalId, channel: notification.channel, error: notification.error },
        notification.sentAt,
      );
    },
    async listNotifications(filter = {}) {
      return notifications
        .filter((notification) => filter.proposalId === undefined || notification.proposalId === filter.proposalId)
        .slice(-(filter.limit ?? 50))
        .reverse()
        .map(clone);
    },

    ...memoryOutbox(append),
    ...memoryAbsence(),

    async reserveBudget(reservation: BudgetReservation) {
      if (monthTotal(reservation.month) + reservation.amountEur > reservation.capEur + 1e-12) return false;
      usage.set(reservation.id, {
        id: reservation.id,
        month: reservation.month,
        purpose: reservation.purpose,
        provider: reservation.provider,
        model: reservation.model,
        reservedEur: reservation.amountEur,
        createdAt: reservation.at,
      });
      append('llm_usage', reservation.id, 'reserved', { amountEur: reservation.amountEur, month: reservation.month, purpose: reservation.purpose }, reservation.at);
      return true;
    },
    async settleBudget(settlement: BudgetSettlement) {
      const row = usage.get(settlement.id);
      if (!row) throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage('audit', `no budget reservation ${settlement.id}`) });
      Object.assign(row, { actualEur: settlement.actualEur, inputTokens: settlement.inputTokens, outputTokens: settlement.outputTokens, settledAt: settlement.at });
      append('llm_usage', settlement.id, 'settled', { actualEur: settlement.actualEur, inputTokens: settlement.inputTokens, outputTokens: settlement.outputTokens }, settlement.at);
    },
    async spentInMonth(month) {
      return monthTotal(month);
    },
    async listLlmUsage(filter = {}) {
      return [...usage.values()]
        .filter((row) => filter.month === undefined || row.month === filter.month)
        .slice(-(filter.limit ?? 50))
        .map(clone);
    },

    async renewExecutionLease(renewal) {
      const execution = executions.get(renewal.id);
      if (!execution || execution.owner !== renewal.owner || !LEASED_STATUSES.includes(execution.status)) return false;
      execution.leaseExpiresAt = renewal.leaseExpiresAt;
      return true;
    },
    async acquireHostLock(request) {
      const held = hostLocks.get(request.host);
      if (held && held.owner !== request.owner && !leaseExpired(held.expiresAt, request.at)) return false;
      hostLocks.set(request.host, { owner: request.owner, expiresAt: request.expiresAt });
      return true;
    },
    async releaseHostLock(request) {
      if (hostLocks.get(request.host)?.owner === request.owner) hostLocks.delete(request.host);
    },
    async claimIncident(claim) {
      const held = claims.get(claim.fingerprint);
      if (held && !leaseExpired(held.until, claim.at)) return false;
      claims.set(claim.fingerprint, { owner: claim.owner, until: claim.until });
      return true;
    },

    async history(filter = {}) {
      return log
        .filter((entry) => (filter.entityId === undefined || entry.entityId === filter.entityId) && entry.seq > (filter.afterSeq ?? 0))
        .slice(0, filter.limit ?? Number.POSITIVE_INFINITY)
        .map(clone);
    },
    async recordSystemEvent(action, data, at) {
      append('system', 'system', action, data, at);
    },
  };
}
