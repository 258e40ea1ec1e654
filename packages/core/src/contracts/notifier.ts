/** What a human is asked to decide. Every string here is already redacted. */
export interface ProposalNotice {
  proposalId: string;
  incidentId: string;
  patternId: string;
  /** The pattern's title, e.g. "Docker compose stack stopped after reboot". */
  title: string;
  host: string;
  service: string;
  /** matched signals / required signals, 0..1. */
  confidence: number;
  /** Markdown: what was seen, what the fix does, what verify checks. */
  summary: string;
  /** A few redacted log lines or metric values that triggered it. */
  evidence: string[];
  /** ISO-8601. */
  createdAt: string;
  /** ISO-8601; after this the Approve link answers "expired". */
  expiresAt: string;
  dryRun: boolean;
}

/** Signed, single-use links. The notifier only transports them; it is never trusted to decide. */
export interface ProposalActions {
  approveUrl: string;
  denyUrl: string;
  viewUrl: string;
  /**
   * The signed tokens inside `approveUrl` / `denyUrl`, for channels that carry the decision
   * back themselves (a chat button's callback) and hand it to `DecisionSink.decide`. Optional:
   * a link-only notifier ignores them, and an older core does not give them.
   */
  approveToken?: string;
  denyToken?: string;
}

export type ProposalUpdateStatus =
  | 'approved'
  | 'denied'
  | 'expired'
  | 'succeeded'
  | 'failed'
  | 'rolled_back'
  | 'escalated'
  | 'interrupted';

export interface ProposalUpdate {
  proposalId: string;
  status: ProposalUpdateStatus;
  /** One or two lines for the phone. */
  detail: string;
  /** Who decided, when it is a decision. */
  actor?: string;
  /** The receipt `propose` returned, so the notifier can update or clear that notification. */
  receipt?: NotificationReceipt;
}

export type NotificationPriority = 'min' | 'low' | 'default' | 'high' | 'urgent';

export interface NotifierMessage {
  kind: 'escalation' | 'unknown-incident' | 'budget' | 'info';
  title: string;
  /** Markdown body; the notifier shortens it when the channel needs to. */
  body: string;
  priority: NotificationPriority;
  tags?: string[];
  /** A link to open (the proposal page, the incident bundle). */
  url?: string;
}

export interface NotificationReceipt {
  /** Channel-specific id (ntfy message id or sequence id). */
  id: string;
  channel: string;
}

/** A decision that arrived through the notifier's own channel (a tapped chat button). */
export interface ChannelDecision {
  /** The signed token the proposal was sent with: core checks it exactly as the approval endpoint does. */
  token: string;
  decision: 'approve' | 'deny';
  /** Who decided, as the channel identifies them, e.g. `telegram:123456789`. */
  actor: string;
  /** The notifier's name. */
  channel: string;
}

/** What core answers to a channel decision; the notifier shows `message` to the human. */
export interface ChannelDecisionReply {
  ok: boolean;
  /** e.g. `approved: the fix runs on penny now`, `already approved at 10:02 UTC by telegram:1`. */
  message: string;
}

/** A decision attempt the notifier refused itself, before any token was looked at. */
export interface ChannelDecisionRefusal {
  /** `unauthorised-chat`, `unauthorised-user`, `unknown-button`, `malformed`, `bad-webhook-secret`. */
  reason: string;
  actor: string;
  channel: string;
  /** Redacted, one line. */
  detail: string;
}

/**
 * Where a decision-carrying notifier hands what it receives. Core implements it: `decide` runs
 * the same token checks as the approval endpoint (signature, expiry, single use, a proposal
 * still open), and both methods record the attempt in the audit store.
 */
export interface DecisionSink {
  decide(decision: ChannelDecision): Promise<ChannelDecisionReply>;
  refuse(refusal: ChannelDecisionRefusal): Promise<void>;
}

/**
 * Sends proposals and messages to a human. Decisions come back through the approval endpoint
 * with a signed token, or, for a notifier with `listen`, through its own channel, still as the
 * signed token: the notifier transports the decision, it never decides.
 */
export interface Notifier {
  readonly specificationVersion: 'v1';
  readonly name: string;
  propose(proposal: ProposalNotice, actions: ProposalActions): Promise<NotificationReceipt>;
  /** Tells the human what happened to a proposal. Optional: without it core sends `notify`. */
  update?(update: ProposalUpdate): Promise<NotificationReceipt | void>;
  notify(message: NotifierMessage): Promise<NotificationReceipt>;
  check?(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  /**
   * Optional capability, detected by core: the channel carries decisions back (chat buttons).
   * Reads them until `signal` aborts (long polling, a webhook) and hands each to `sink`; resolves
   * when stopped. Without it, decisions come only through the approval endpoint's links.
   */
  listen?(sink: DecisionSink, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}
