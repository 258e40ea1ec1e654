import type {
  AuditEntry,
  ExecutionRecord,
  ExecutionStatus,
  ExecutionStep,
  IncidentRecord,
  LlmUsageRecord,
  NotificationRecord,
  OutboxRecord,
  OutboxStatus,
  ProposalRecord,
  ProposalStatus,
} from './records.js';

export interface ProposalTransition {
  id: string;
  /** The status the caller believes is current: compare-and-set. */
  from: ProposalStatus;
  to: ProposalStatus;
  at: string;
  /** Who decided (approval-link identity, `cli:<user>`, `auto-exec`, `system`). */
  actor: string;
  /** Id of the approval token used, recorded with the decision. */
  tokenId?: string;
  reason?: string;
}

export interface ExecutionTransition {
  id: string;
  /** Compare-and-set: the transition happens only if the current status is one of these. */
  from: readonly ExecutionStatus[];
  to: ExecutionStatus;
  at: string;
  /** A step to append (the result of run / verify / rollback). */
  appendStep?: ExecutionStep;
  detail?: string;
  /**
   * Take-over by recovery: the transition happens only when the execution has no owner or its
   * lease expired at `at`. A live peer's execution (lease still valid) is left alone.
   */
  onlyIfLeaseExpired?: boolean;
}

/** An owner extending its claim on a running execution. */
export interface ExecutionLeaseRenewal {
  id: string;
  /** The instance id that owns the execution. */
  owner: string;
  /** The new end of the lease (ISO). */
  leaseExpiresAt: string;
  at: string;
}

/**
 * A lock on a target host shared by every instance on the store: one fix per host at a time,
 * whichever instance runs it. It lapses at `expiresAt` unless renewed, so a crashed instance
 * cannot hold a host forever.
 */
export interface HostLockRequest {
  host: string;
  /** The instance id asking. */
  owner: string;
  at: string;
  /** End of the lock unless renewed (ISO). */
  expiresAt: string;
}

/**
 * The right to open an incident for a fingerprint until its cooldown ends. The first instance
 * to claim it opens the incident; the others count their detection as a duplicate.
 */
export interface IncidentClaimRequest {
  fingerprint: string;
  owner: string;
  at: string;
  /** When the cooldown ends and the same problem may open a new incident (ISO). */
  until: string;
}

export interface BudgetReservation {
  id: string;
  month: string;
  amountEur: number;
  /** The reservation succeeds only if spent + reserved + amount <= capEur. */
  capEur: number;
  purpose: string;
  provider: string;
  model: string;
  at: string;
}

export interface BudgetSettlement {
  id: string;
  actualEur: number;
  inputTokens: number;
  outputTokens: number;
  at: string;
}

/** An instance taking an outbox row to send it; the claim lapses at `until` (a crashed sender). */
export interface OutboxClaim {
  id: string;
  owner: string;
  at: string;
  until: string;
}

/** What became of one send attempt: the row's new state, written only by the claim's owner. */
export interface OutboxSettlement {
  id: string;
  owner: string;
  at: string;
  /** `pending`: failed, tried again at `nextAttemptAt`; `sent`; `expired`: given up. */
  status: OutboxStatus;
  attempts: number;
  channel: string;
  channelSince: string;
  failures: Record<string, number>;
  nextAttemptAt: string;
  lastError?: string;
  receiptId?: string;
}

export interface ListFilter<Status extends string> {
  status?: Status | readonly Status[];
  /** Newest first. @default 50 */
  limit?: number;
}

/**
 * The audit trail and the single source of truth for the loop's state.
 *
 * Every state change is written here *before* the side effect it authorises (the notification
 * after the proposal row; the remote call after the execution row says `running`). The
 * compare-and-set transitions are what make approvals single-use and executions exactly-once:
 * an implementation must make each one atomic (a transaction, a row lock).
 */
export interface AuditStore {
  readonly specificationVersion: 'v1';
  readonly name: string;
  /** Opens connections and runs migrations. Called once before anything else. */
  init?(): Promise<void>;

  insertIncident(incident: IncidentRecord): Promise<void>;
  getIncident(id: string): Promise<IncidentRecord | undefined>;
  listIncidents(filter?: { limit?: number }): Promise<IncidentRecord[]>;

  insertProposal(proposal: ProposalRecord): Promise<void>;
  getProposal(id: string): Promise<ProposalRecord | undefined>;
  listProposals(filter?: ListFilter<ProposalStatus>): Promise<ProposalRecord[]>;
  /** Records which notification carries the proposal (for later updates). */
  setProposalNotification(id: string, notificationId: string): Promise<void>;
  /**
   * Atomically moves a proposal from `from` to `to`. Returns the updated record, or `undefined`
   * when the current status is not `from` (someone else decided first): nothing changes then.
   * @throws FishError STATE_TRANSITION_ILLEGAL when `from -> to` is not a legal transition.
   */
  transitionProposal(transition: ProposalTransition): Promise<ProposalRecord | undefined>;

  /**
   * Inserts an execution. Returns false, changing nothing, when the proposal already has one:
   * the store is what guarantees one execution per approved proposal.
   */
  insertExecution(execution: ExecutionRecord): Promise<boolean>;
  getExecution(id: string): Promise<ExecutionRecord | undefined>;
  getExecutionByProposal(proposalId: string): Promise<ExecutionRecord | undefined>;
  listExecutions(filter?: ListFilter<ExecutionStatus>): Promise<ExecutionRecord[]>;
  /** Compare-and-set on the execution status; `undefined` when the current status is not in `from`. */
  transitionExecution(transition: ExecutionTransition): Promise<ExecutionRecord | undefined>;

  recordNotification(notification: NotificationRecord): Promise<void>;
  listNotifications(filter?: { proposalId?: string; limit?: number }): Promise<NotificationRecord[]>;

  /** Writes a notification to the outbox (status `pending`) before anything sends it. */
  enqueueOutbox(entry: OutboxRecord): Promise<void>;
  /**
   * Outbox rows, oldest first. `dueBy`: only pending rows whose next attempt is due then and
   * whose claim (if any) has lapsed. @default limit 100
   */
  listOutbox(filter?: { status?: OutboxStatus | readonly OutboxStatus[]; proposalId?: string; dueBy?: string; limit?: number }): Promise<OutboxRecord[]>;
  /**
   * Takes a pending row to send it: answers the row when it is pending and unclaimed, its claim
   * lapsed at `at`, or `owner` already holds it; `undefined` otherwise (another instance sends it).
   */
  claimOutbox(claim: OutboxClaim): Promise<OutboxRecord | undefined>;
  /** Writes the result of an attempt and drops the claim; false (nothing changes) unless `owner` holds a pending row. */
  settleOutbox(settlement: OutboxSettlement): Promise<boolean>;
  /** Pending rows and the oldest one's creation time: the delivery backlog. */
  outboxBacklog(): Promise<{ pending: number; oldestCreatedAt?: string }>;

  /** Atomically checks the monthly cap and reserves `amountEur`. False when it would overspend. */
  reserveBudget(reservation: BudgetReservation): Promise<boolean>;
  /** Replaces a reservation with what the call really cost. */
  settleBudget(settlement: BudgetSettlement): Promise<void>;
  /** Settled spend plus open reservations for the month (`YYYY-MM`). */
  spentInMonth(month: string): Promise<number>;
  listLlmUsage(filter?: { month?: string; limit?: number }): Promise<LlmUsageRecord[]>;

  /** Every state change in order, oldest first. */
  history(filter?: { entityId?: string; afterSeq?: number; limit?: number }): Promise<AuditEntry[]>;
  /** Records a free-form system event (start, stop, catalog reload, refused transition). */
  recordSystemEvent(action: string, data: Record<string, unknown>, at: string): Promise<void>;

  /**
   * True when several fish instances may use this store at the same time (PostgreSQL). Core then
   * takes host locks in the store instead of in memory. @default false
   */
  readonly shared?: boolean;

  /**
   * Extends the owner's lease on an unfinished execution. False when the execution is finished,
   * interrupted, or owned by someone else: the caller no longer owns it and must stop.
   */
  renewExecutionLease?(renewal: ExecutionLeaseRenewal): Promise<boolean>;
  /**
   * Takes (or, for its owner, extends) a host lock. True when the caller holds it now; false
   * when another owner holds an unexpired lock. Never waits.
   */
  acquireHostLock?(request: HostLockRequest): Promise<boolean>;
  /** Releases a host lock held by `owner` (a lock held by someone else is left alone). */
  releaseHostLock?(request: { host: string; owner: string }): Promise<void>;
  /**
   * Claims a fingerprint until its cooldown ends. True for the first claim (or when the previous
   * claim's cooldown has ended), false while another claim holds: the detection is a duplicate.
   */
  claimIncident?(claim: IncidentClaimRequest): Promise<boolean>;

  close?(): Promise<void>;
}
