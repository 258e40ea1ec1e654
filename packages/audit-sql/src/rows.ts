import {
  redactSecrets,
  truncateOutput,
  type AuditEntry,
  type ExecutionRecord,
  type ExecutionStatus,
  type ExecutionStep,
  type IncidentRecord,
  type LlmUsageRecord,
  type NotificationRecord,
  type ProposalRecord,
  type ProposalPin,
  type ProposalStatus,
} from '@fish-sre/core';
import type { AuditDatabase } from './schema.js';

/** Money is stored as integer micro-euros: sums are exact, so the cap check never drifts. */
export const MICRO = 1_000_000;

/** The statuses an owner keeps a lease on: the execution is still in its hands. */
export const LEASED_STATUSES: readonly ExecutionStatus[] = ['pending', 'running', 'verifying'];

/** bigint columns come back as strings from PostgreSQL and numbers from SQLite. */
export const toNumber = (value: number | string | bigint | null | undefined): number | undefined => (value === null || value === undefined ? undefined : Number(value));

export function statuses<Status extends string>(status: Status | readonly Status[] | undefined): readonly Status[] | undefined {
  if (status === undefined) return undefined;
  return typeof status === 'string' ? [status as Status] : (status as readonly Status[]);
}

/** Step output is truncated and redacted again on the way in: the store is the last line. */
export function cleanStep(step: ExecutionStep): ExecutionStep {
  return { ...step, stdout: truncateOutput(redactSecrets(step.stdout)), stderr: truncateOutput(redactSecrets(step.stderr)) };
}

export function toIncident(row: AuditDatabase['incidents']): IncidentRecord {
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    host: row.host,
    service: row.service,
    patternId: row.pattern_id,
    candidates: JSON.parse(row.candidates_json) as string[],
    confidence: row.confidence,
    method: row.method as IncidentRecord['method'],
    reason: row.reason,
    evidence: JSON.parse(row.evidence_json) as string[],
    eventCount: row.event_count,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    createdAt: row.created_at,
  };
}

export function toProposal(row: AuditDatabase['proposals']): ProposalRecord {
  const proposal: ProposalRecord = {
    id: row.id,
    incidentId: row.incident_id,
    patternId: row.pattern_id,
    targetHost: row.target_host,
    service: row.service,
    confidence: row.confidence,
    status: row.status as ProposalStatus,
    dryRun: Number(row.dry_run) === 1,
    autoExec: Number(row.auto_exec) === 1,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
  if (row.decided_at !== null) proposal.decidedAt = row.decided_at;
  if (row.decided_by !== null) proposal.decidedBy = row.decided_by;
  if (row.notification_id !== null) proposal.notificationId = row.notification_id;
  if (row.pin_json !== null) proposal.pin = JSON.parse(row.pin_json) as ProposalPin;
  return proposal;
}

export function toExecution(row: AuditDatabase['executions']): ExecutionRecord {
  const execution: ExecutionRecord = {
    id: row.id,
    proposalId: row.proposal_id,
    patternId: row.pattern_id,
    targetHost: row.target_host,
    status: row.status as ExecutionStatus,
    dryRun: Number(row.dry_run) === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    steps: JSON.parse(row.steps_json) as ExecutionStep[],
  };
  if (row.detail !== null) execution.detail = row.detail;
  if (row.owner !== null && row.owner !== undefined) execution.owner = row.owner;
  const lease = toNumber(row.lease_expires_ms);
  if (lease !== undefined) execution.leaseExpiresAt = new Date(lease).toISOString();
  return execution;
}

export function toNotification(row: AuditDatabase['notifications']): NotificationRecord {
  const notification: NotificationRecord = {
    id: row.id,
    kind: row.kind,
    channel: row.channel,
    title: row.title,
    ok: Number(row.ok) === 1,
    sentAt: row.sent_at,
  };
  if (row.proposal_id !== null) notification.proposalId = row.proposal_id;
  if (row.incident_id !== null) notification.incidentId = row.incident_id;
  if (row.receipt_id !== null) notification.receiptId = row.receipt_id;
  if (row.error !== null) notification.error = row.error;
  return notification;
}

export function toUsage(row: AuditDatabase['llm_usage']): LlmUsageRecord {
  const usage: LlmUsageRecord = {
    id: row.id,
    month: row.month,
    purpose: row.purpose,
    provider: row.provider,
    model: row.model,
    reservedEur: Number(row.reserved_micro_eur) / MICRO,
    createdAt: row.created_at,
  };
  if (row.actual_micro_eur !== null) usage.actualEur = Number(row.actual_micro_eur) / MICRO;
  if (row.input_tokens !== null) usage.inputTokens = row.input_tokens;
  if (row.output_tokens !== null) usage.outputTokens = row.output_tokens;
  if (row.settled_at !== null) usage.settledAt = row.settled_at;
  return usage;
}

export function toEntry(row: AuditDatabase['audit_log']): AuditEntry {
  return {
    seq: Number(row.seq),
    at: row.at,
    entity: row.entity as AuditEntry['entity'],
    entityId: row.entity_id,
    action: row.action,
    data: JSON.parse(row.data_json) as Record<string, unknown>,
  };
}
