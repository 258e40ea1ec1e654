import { z } from 'zod';
import { ExecutionVerb } from './executor.js';

/** The human decision on a proposal. Separate from what the execution then did. */
export const ProposalStatus = z.enum(['proposed', 'approved', 'denied', 'expired']);
export type ProposalStatus = z.infer<typeof ProposalStatus>;

/**
 * The technical result of running an approved proposal: pending -> running (fix) -> verifying
 * (verify script) -> succeeded | failed; failed -> rolled_back | escalated. Each step's output is
 * appended with the transition that ends it, so a crash between steps leaves an exact record.
 */
export const ExecutionStatus = z.enum(['pending', 'running', 'verifying', 'succeeded', 'failed', 'rolled_back', 'escalated', 'interrupted']);
export type ExecutionStatus = z.infer<typeof ExecutionStatus>;

/** Legal proposal transitions. Anything else is refused, audited, and executes nothing. */
export const PROPOSAL_TRANSITIONS: Readonly<Record<ProposalStatus, readonly ProposalStatus[]>> = {
  proposed: ['approved', 'denied', 'expired'],
  approved: [],
  denied: [],
  expired: [],
};

/**
 * Legal execution transitions. `interrupted` is what a restart finds for an execution that was
 * pending or running when the process died: it is escalated, never re-run by itself.
 */
export const EXECUTION_TRANSITIONS: Readonly<Record<ExecutionStatus, readonly ExecutionStatus[]>> = {
  pending: ['running', 'interrupted'],
  /** The fix runs; its step is appended when it ends (-> verifying, or -> failed). */
  running: ['verifying', 'succeeded', 'failed', 'interrupted'],
  /** The verify script runs; its step is appended when it ends. */
  verifying: ['succeeded', 'failed', 'interrupted'],
  failed: ['rolled_back', 'escalated'],
  interrupted: ['escalated'],
  succeeded: [],
  rolled_back: [],
  escalated: [],
};

export function isLegalProposalTransition(from: ProposalStatus, to: ProposalStatus): boolean {
  return PROPOSAL_TRANSITIONS[from].includes(to);
}

export function isLegalExecutionTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return EXECUTION_TRANSITIONS[from].includes(to);
}

export const ClassificationMethod = z.enum(['deterministic', 'llm', 'cache', 'none']);

export const IncidentRecordSchema = z.object({
  id: z.string(),
  /** Pattern candidates + host + service: the same trouble gets the same fingerprint. */
  fingerprint: z.string(),
  host: z.string(),
  service: z.string(),
  /** Pattern id chosen, or `UNKNOWN`. */
  patternId: z.string(),
  candidates: z.array(z.string()),
  /** matched required signals / required signals of the chosen pattern; never an LLM self-report. */
  confidence: z.number().min(0).max(1),
  method: ClassificationMethod,
  /** Short reason (from the matcher, or the LLM's, redacted). */
  reason: z.string(),
  /** Redacted log lines / metric values. */
  evidence: z.array(z.string()),
  eventCount: z.number().int().nonnegative(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  createdAt: z.string(),
});
export type IncidentRecord = z.infer<typeof IncidentRecordSchema>;

const PinnedScript = z
  .object({
    step: z.enum(['fix', 'verify', 'rollback']),
    script: z.string(),
    /** sha256 of the script file as the catalog was loaded; absent when the catalog did not read it. */
    sha256: z.string().optional(),
  })
  .strict();

/**
 * What a proposal showed: the pattern's fix definition (scripts, timeouts, on_failure, target) and
 * each script's content digest, plus the catalog digest it came from. At execution the pattern
 * as it is now must give the same `pattern` digest and scripts, else nothing runs.
 */
export const ProposalPinSchema = z
  .object({
    /** The whole catalog's digest when the proposal was made (evidence; a reload of another pattern does not refuse). */
    catalogDigest: z.string(),
    /** sha256 of the pattern's fix, verify, rollback, on_failure and target_host. */
    pattern: z.string(),
    scripts: z.array(PinnedScript),
  })
  .strict();
export type ProposalPin = z.infer<typeof ProposalPinSchema>;

export const ProposalRecordSchema = z.object({
  id: z.string(),
  incidentId: z.string(),
  patternId: z.string(),
  /** The configured target the fix runs on. */
  targetHost: z.string(),
  service: z.string(),
  confidence: z.number().min(0).max(1),
  status: ProposalStatus,
  dryRun: z.boolean(),
  /** True when the pattern earned auto-exec and the operator enabled it: no human decision. */
  autoExec: z.boolean(),
  createdAt: z.string(),
  expiresAt: z.string(),
  decidedAt: z.string().optional(),
  decidedBy: z.string().optional(),
  /** Notifier receipt of the proposal notification, to update or clear it later. */
  notificationId: z.string().optional(),
  /** The fix as shown (scripts and their digests): a fix that changed since is refused. */
  pin: ProposalPinSchema.optional(),
});
export type ProposalRecord = z.infer<typeof ProposalRecordSchema>;

export const ExecutionStepSchema = z.object({
  verb: ExecutionVerb,
  script: z.string(),
  startedAt: z.string(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable().optional(),
  stdout: z.string(),
  stderr: z.string(),
  durationMs: z.number().nonnegative(),
  timedOut: z.boolean(),
  dryRun: z.boolean(),
});
export type ExecutionStep = z.infer<typeof ExecutionStepSchema>;

export const ExecutionRecordSchema = z.object({
  id: z.string(),
  /** At most one execution per proposal: the store enforces it. */
  proposalId: z.string(),
  patternId: z.string(),
  targetHost: z.string(),
  status: ExecutionStatus,
  dryRun: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  steps: z.array(ExecutionStepSchema),
  /** Why it ended the way it did, in words. */
  detail: z.string().optional(),
  /**
   * The fish instance running it. With several instances on one store, recovery leaves a live
   * peer's execution alone: only one whose lease expired is taken over (interrupted, escalated).
   */
  owner: z.string().optional(),
  /** Until when the owner's claim holds; the owner renews it while the execution runs. */
  leaseExpiresAt: z.string().optional(),
});
export type ExecutionRecord = z.infer<typeof ExecutionRecordSchema>;

export const NotificationRecordSchema = z.object({
  id: z.string(),
  /** `proposal`, `update`, `escalation`, `unknown-incident`, `budget`, `info`. */
  kind: z.string(),
  proposalId: z.string().optional(),
  incidentId: z.string().optional(),
  channel: z.string(),
  /** The notifier's receipt id, when it sent. */
  receiptId: z.string().optional(),
  title: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  sentAt: z.string(),
});
export type NotificationRecord = z.infer<typeof NotificationRecordSchema>;

/** Where a notification in the outbox stands: waiting (or being retried), delivered, or given up. */
export const OutboxStatus = z.enum(['pending', 'sent', 'expired']);
export type OutboxStatus = z.infer<typeof OutboxStatus>;

/**
 * One notification in the delivery outbox: written before it is sent, retried with back-off
 * (also after a restart) until a notifier takes it or it expires, handed to the next notifier
 * after repeated failures. Sent at least once; a crash between the notifier's answer and the
 * `sent` write sends it once more on restart.
 */
export const OutboxRecordSchema = z.object({
  id: z.string(),
  /** `proposal`, `update`, `escalation`, `unknown-incident`, `budget`, `info`. */
  kind: z.string(),
  proposalId: z.string().optional(),
  incidentId: z.string().optional(),
  title: z.string(),
  /**
   * What the notifier is given, as JSON (already redacted). Never a signed approval link: those
   * are made when the proposal is sent, so no usable token rests in the store.
   */
  payload: z.record(z.string(), z.unknown()),
  status: OutboxStatus,
  createdAt: z.string(),
  /** After this it is not sent any more (a proposal: when its approval window closes). */
  expiresAt: z.string(),
  /** The next attempt is not made before this. */
  nextAttemptAt: z.string(),
  /** Failed attempts so far, over every notifier. */
  attempts: z.number().int().nonnegative(),
  /** The notifier that gets the next attempt; once sent, the one that delivered it. */
  channel: z.string(),
  /** When `channel` was given it (the fallback moves on after a time, too). */
  channelSince: z.string(),
  /** Failed attempts per notifier name. */
  failures: z.record(z.string(), z.number().int().nonnegative()),
  lastError: z.string().optional(),
  /** The instance sending it now, and until when its claim holds. */
  claimedBy: z.string().optional(),
  claimedUntil: z.string().optional(),
  /** When it was delivered or given up. */
  settledAt: z.string().optional(),
  /** The delivering notifier's receipt id. */
  receiptId: z.string().optional(),
});
export type OutboxRecord = z.infer<typeof OutboxRecordSchema>;

/** One row of the append-only history: every state change, in order. */
export const AuditEntrySchema = z.object({
  seq: z.number().int().nonnegative(),
  at: z.string(),
  entity: z.enum(['incident', 'proposal', 'decision', 'execution', 'notification', 'outbox', 'llm_usage', 'system']),
  entityId: z.string(),
  action: z.string(),
  data: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export const LlmUsageRecordSchema = z.object({
  /** Reservation id. */
  id: z.string(),
  /** `YYYY-MM` (UTC) the spend counts against. */
  month: z.string().regex(/^\d{4}-\d{2}$/),
  purpose: z.string(),
  provider: z.string(),
  model: z.string(),
  reservedEur: z.number().nonnegative(),
  /** Set when settled; until then the reservation counts in full. */
  actualEur: z.number().nonnegative().optional(),
  inputTokens: z.number().int().nonnegative().optional(),
  outputTokens: z.number().int().nonnegative().optional(),
  createdAt: z.string(),
  settledAt: z.string().optional(),
});
export type LlmUsageRecord = z.infer<typeof LlmUsageRecordSchema>;
