import type { Generated } from 'kysely';

/**
 * The audit database, as kysely sees it. Only portable column types are used (text, integer,
 * bigint, double precision), so the same schema and the same queries can target PostgreSQL:
 * booleans are stored as 0/1 integers, money as integer micro-euros, lists as JSON text.
 */
export interface AuditDatabase {
  incidents: IncidentTable;
  proposals: ProposalTable;
  decisions: DecisionTable;
  executions: ExecutionTable;
  notifications: NotificationTable;
  llm_usage: LlmUsageTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  host_locks: HostLockTable;
  incident_claims: IncidentClaimTable;
  outbox: OutboxTable;
  absence_streams: AbsenceStreamTable;
}

export interface IncidentTable {
  id: string;
  fingerprint: string;
  host: string;
  service: string;
  pattern_id: string;
  candidates_json: string;
  confidence: number;
  method: string;
  reason: string;
  evidence_json: string;
  event_count: number;
  first_seen: string;
  last_seen: string;
  created_at: string;
}

export interface ProposalTable {
  id: string;
  incident_id: string;
  pattern_id: string;
  target_host: string;
  service: string;
  confidence: number;
  status: string;
  dry_run: number;
  auto_exec: number;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  notification_id: string | null;
  /** The fix as shown (ProposalPin, JSON); null for proposals written before it existed. */
  pin_json: string | null;
}

export interface DecisionTable {
  id: string;
  proposal_id: string;
  from_status: string;
  to_status: string;
  actor: string;
  token_id: string | null;
  reason: string | null;
  decided_at: string;
}

export interface ExecutionTable {
  id: string;
  proposal_id: string;
  pattern_id: string;
  target_host: string;
  status: string;
  dry_run: number;
  created_at: string;
  updated_at: string;
  steps_json: string;
  detail: string | null;
  /** The instance running it (migration 0002); null for rows written before, or by a store without owners. */
  owner: string | null;
  /** End of the owner's lease, epoch milliseconds (a number compares the same in every database). */
  lease_expires_ms: number | string | null;
}

export interface NotificationTable {
  id: string;
  kind: string;
  proposal_id: string | null;
  incident_id: string | null;
  channel: string;
  receipt_id: string | null;
  title: string;
  ok: number;
  error: string | null;
  sent_at: string;
}

export interface LlmUsageTable {
  id: string;
  month: string;
  purpose: string;
  provider: string;
  model: string;
  /** Integer micro-euros: sums are exact, so the cap check never drifts. */
  reserved_micro_eur: number;
  actual_micro_eur: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  created_at: string;
  settled_at: string | null;
}

export interface AuditLogTable {
  seq: number;
  at: string;
  entity: string;
  entity_id: string;
  action: string;
  data_json: string;
  prev_hash: string;
  hash: string;
}

/** One row (id = 1): the last seq and hash, so that cutting rows off the end is detected too. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** One row per locked target host (migration 0002): one fix per host across instances. */
export interface HostLockTable {
  host: string;
  owner: string;
  expires_ms: number | string;
}

/** One row per incident fingerprint (migration 0002): the instance that opened it, and until when. */
export interface IncidentClaimTable {
  fingerprint: string;
  owner: string;
  claimed_at: string;
  until_ms: number | string;
}

/** The delivery outbox (migration 0003): each notification before it is sent, until sent or expired. */
export interface OutboxTable {
  id: string;
  kind: string;
  proposal_id: string | null;
  incident_id: string | null;
  title: string;
  payload_json: string;
  status: string;
  created_at: string;
  expires_at: string;
  next_attempt_at: string;
  /** `next_attempt_at` as epoch milliseconds: compared in the query. */
  next_attempt_ms: number | string;
  attempts: number;
  channel: string;
  channel_since: string;
  failures_json: string;
  last_error: string | null;
  claimed_by: string | null;
  claimed_until_ms: number | string | null;
  settled_at: string | null;
  receipt_id: string | null;
}

/**
 * The streams the catalog's `absent` signals watch (migration 0005): each one's last sign of
 * life, so that a restart still reports a silence. Engine state, not audit: no `audit_log` row.
 */
export interface AbsenceStreamTable {
  pattern_id: string;
  signal_id: string;
  host: string;
  service: string;
  last_seen: string;
  /** `last_seen` as epoch milliseconds: compared and ordered in the query. */
  last_seen_ms: number | string;
  /** 0 or 1. */
  reported: number;
}

export type { Generated };
