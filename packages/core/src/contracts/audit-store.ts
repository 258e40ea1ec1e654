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
import type { AbsenceStateStore } from './absence-state.js';

/** A compare-and-set on a proposal's status (a decision, an expiry, an escalation). */
export interface ProposalTransition {
  /** The proposal's id. */
  id: string;
  /** The status the caller believes is current: compare-and-set. */
  from: ProposalStatus;
  /** The new status; `from -> to` must be in PROPOSAL_TRANSITIONS. */
  to: ProposalStatus;
  /** When it happened (ISO-8601, from the engine's clock). */
  at: string;
  /** Who decided (approval-link identity, `cli:<user>`, `auto-exec`, `system`). */
  actor: string;
  /** Id of the approval token used, recorded with the decision. */
  tokenId?: string;
  /** Why (a denial's note, `approval window elapsed`), recorded in the history. */
  reason?: string;
}

/** A compare-and-set on an execution's status, optionally appending the step that caused it. */
export interface ExecutionTransition {
  /** The execution's id. */
  id: string;
  /** Compare-and-set: the transition happens only if the current status is one of these. */
  from: readonly ExecutionStatus[];
  /** The new status; each `from -> to` must be in EXECUTION_TRANSITIONS. */
  to: ExecutionStatus;
  /** When it happened (ISO-8601). */
  at: string;
  /** A step to append (the result of run / verify / rollback). */
  appendStep?: ExecutionStep;
  /** A line for the history (why it failed, who took it over). */
  detail?: string;
  /**
   * Take-over by recovery: the transition happens only when the execution has no owner or its
   * lease expired at `at`. A live peer's execution (lease still valid) is left alone.
   */
  onlyIfLeaseExpired?: boolean;
}

/** An owner extending its claim on a running execution. */
export interface ExecutionLeaseRenewal {
  /** The execution's id. */
  id: string;
  /** The instance id that owns the execution. */
  owner: string;
  /** The new end of the lease (ISO). */
  leaseExpiresAt: string;
  /** When the renewal is made (ISO); a lease already expired at `at` is not renewed. */
  at: string;
}

/**
 * A lock on a target host shared by every instance on the store: one fix per host at a time,
 * whichever instance runs it. It lapses at `expiresAt` unless renewed, so a crashed instance
 * cannot hold a host forever.
 */
export interface HostLockRequest {
  /** The configured target host. */
  host: string;
  /** The instance id asking. */
  owner: string;
  /** When it is asked (ISO); an existing lock that expired before `at` is free. */
  at: string;
  /** End of the lock unless renewed (ISO). */
  expiresAt: string;
}

/**
 * The right to open an incident for a fingerprint until its cooldown ends. The first instance
 * to claim it opens the incident; the others count their detection as a duplicate.
 */
export interface IncidentClaimRequest {
  /** The incident fingerprint (pattern, host, service). */
  fingerprint: string;
  /** The instance id claiming. */
  owner: string;
  /** When it is claimed (ISO). */
  at: string;
  /** When the cooldown ends and the same problem may open a new incident (ISO). */
  until: string;
}

/** Money set aside for one LLM call before it is made, so that concurrent calls cannot overspend. */
export interface BudgetReservation {
  /** The reservation's id; `settleBudget` names it. */
  id: string;
  /** The calendar month it counts against, `YYYY-MM` (UTC). */
  month: string;
  /** The estimated upper bound of the call, in EUR. */
  amountEur: number;
  /** The reservation succeeds only if spent + reserved + amount <= capEur. */
  capEur: number;
  /** What the call is for (`classify`, `draft-pattern`), for the spend report. */
  purpose: string;
  /** `LLMProvider.provider`. */
  provider: string;
  /** The model asked. */
  model: string;
  /** When it is reserved (ISO). */
  at: string;
}

/** What a reserved call really cost (0 when it failed before the API answered). */
export interface BudgetSettlement {
  /** The reservation's id. */
  id: string;
  /** The real price, in EUR (`LLMUsage.costEur`). */
  actualEur: number;
  /** Input tokens, as the API counted them. */
  inputTokens: number;
  /** Output tokens, as the API counted them. */
  outputTokens: number;
  /** When it is settled (ISO). */
  at: string;
}

/** An instance taking an outbox row to send it; the claim lapses at `until` (a crashed sender). */
export interface OutboxClaim {
  /** The outbox row. */
  id: string;
  /** The instance id taking it. */
  owner: string;
  /** When (ISO); a claim of another owner that ended by then no longer holds. */
  at: string;
  /** End of this claim unless settled before (ISO). */
  until: string;
}

/** What became of one send attempt: the row's new state, written only by the claim's owner. */
export interface OutboxSettlement {
  /** The outbox row. */
  id: string;
  /** The instance that claimed it: only its settlement is written. */
  owner: string;
  /** When the attempt ended (ISO). */
  at: string;
  /** `pending`: failed, tried again at `nextAttemptAt`; `sent`; `expired`: given up. */
  status: OutboxStatus;
  /** Failed attempts so far, over every notifier. */
  attempts: number;
  /** The notifier that gets the next attempt, or the one that delivered it. */
  channel: string;
  /** When `channel` was given it (ISO). */
  channelSince: string;
  /** Failed attempts per notifier name. */
  failures: Record<string, number>;
  /** No attempt before this (ISO). */
  nextAttemptAt: string;
  /** The last failure, redacted. */
  lastError?: string;
  /** The delivering notifier's receipt id. */
  receiptId?: string;
}

/** Which records a `list…` call returns. */
export interface ListFilter<Status extends string> {
  /** Only records in this status (or one of these). @default every status */
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
export interface AuditStore extends AbsenceStateStore {
  /** Contract version; the registry refuses versions it does not know. */
  readonly specificationVersion: 'v1';
  /** Instance name from the config (`audit.name`, the type when not given), used in logs and errors. */
  readonly name: string;
  /**
   * Opens connections and runs migrations. Called once by the app before anything else.
   * @throws FishError `AUDIT_UNREACHABLE`, `AUDIT_AUTH_FAILED`, `AUDIT_PERMISSION_DENIED`, or
   * `AUDIT_SCHEMA_NEWER` (the database was migrated by a newer fish-sre): fish does not start.
   */
  init?(): Promise<void>;

  /**
   * Stores a new incident (and its history entry) in one transaction. Called by the engine's
   * routing stage before anything is sent about it. Every method of this store throws FishError
   * `AUDIT_FAILED` (or `AUDIT_UNREACHABLE` for a lost connection) when it cannot answer; the
   * engine then never takes the side effect the write would have allowed.
   */
  insertIncident(incident: IncidentRecord): Promise<void>;
  /** The incident with this id, or undefined. Called by the approval pages and the CLI. */
  getIncident(id: string): Promise<IncidentRecord | undefined>;
  /** Incidents, newest first. Called by recovery at start, `fish-sre status` and the health check. @default limit 50 */
  listIncidents(filter?: { limit?: number }): Promise<IncidentRecord[]>;

  /** Stores a new proposal in `pending` (and its history entry). Called by the routing stage before the notifier sends it. */
  insertProposal(proposal: ProposalRecord): Promise<void>;
  /** The proposal with this id, or undefined. Called by the decision stage, recovery and the approval pages. */
  getProposal(id: string): Promise<ProposalRecord | undefined>;
  /** Proposals, newest first; recovery lists the open ones at start. */
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
  /** The execution with this id, or undefined. */
  getExecution(id: string): Promise<ExecutionRecord | undefined>;
  /** The execution of a proposal, or undefined when it has none (yet). */
  getExecutionByProposal(proposalId: string): Promise<ExecutionRecord | undefined>;
  /** Executions, newest first; recovery lists the unfinished ones at start. */
  listExecutions(filter?: ListFilter<ExecutionStatus>): Promise<ExecutionRecord[]>;
  /** Compare-and-set on the execution status; `undefined` when the current status is not in `from`. */
  transitionExecution(transition: ExecutionTransition): Promise<ExecutionRecord | undefined>;

  /** Records one notification attempt, sent or failed. Called by the notification stage after each notifier call. */
  recordNotification(notification: NotificationRecord): Promise<void>;
  /** Notification attempts, newest first, optionally of one proposal. */
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
  /** Settled LLM calls, newest first, optionally of one month (`YYYY-MM`). For spend reports (the app's status pages, tests). */
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

  /** Closes connections. Called once by the app on shutdown, after the engine stopped (not by `engine.stop()`). */
  close?(): Promise<void>;
}
