/** What a human is asked to decide. Every string here is already redacted. */
export interface ProposalNotice {
  /** The proposal's id in the audit store; `update` later names the same id. */
  proposalId: string;
  /** The incident the proposal answers. */
  incidentId: string;
  /** The catalog pattern that recognised it. */
  patternId: string;
  /** The pattern's title, e.g. "Docker compose stack stopped after reboot". */
  title: string;
  /** The configured target host the fix would run on. */
  host: string;
  /** The service (compose project, unit, container) the evidence came from. */
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
  /** True when fish runs with `dryRun`: approving records the decision but runs nothing; say so. */
  dryRun: boolean;
}

/** Signed, single-use links. The notifier only transports them; it is never trusted to decide. */
export interface ProposalActions {
  /** Opening it approves (the approval endpoint checks the signed token inside). */
  approveUrl: string;
  /** Opening it denies. */
  denyUrl: string;
  /** The proposal's page: evidence, script, status; decides nothing. */
  viewUrl: string;
  /**
   * The signed tokens inside `approveUrl` / `denyUrl`, for channels that carry the decision
   * back themselves (a chat button's callback) and hand it to `DecisionSink.decide`. Optional:
   * a link-only notifier ignores them, and an older core does not give them.
   */
  approveToken?: string;
  /** The signed deny token, as `approveToken`. */
  denyToken?: string;
}

/** What happened to a proposal since it was sent. */
export type ProposalUpdateStatus = 'approved' | 'denied' | 'expired' | 'succeeded' | 'failed' | 'rolled_back' | 'escalated' | 'interrupted';

/** A change of a proposal's state, for the human who received it. Already redacted. */
export interface ProposalUpdate {
  /** The proposal `propose` was called with. */
  proposalId: string;
  /** Its new state. */
  status: ProposalUpdateStatus;
  /** One or two lines for the phone. */
  detail: string;
  /** Who decided, when it is a decision. */
  actor?: string;
  /** The receipt `propose` returned, so the notifier can update or clear that notification. */
  receipt?: NotificationReceipt;
}

/** ntfy's five priorities, from `min` to `urgent`; a channel without priorities maps them to what it has. */
export type NotificationPriority = 'min' | 'low' | 'default' | 'high' | 'urgent';

/** A message that asks no decision: an escalation, an UNKNOWN incident, a budget warning. Already redacted. */
export interface NotifierMessage {
  /** Why it is sent; a notifier may tag or route by it. */
  kind: 'escalation' | 'unknown-incident' | 'budget' | 'info';
  /** One line; the notifier shortens it to the channel's limit. */
  title: string;
  /** Markdown body; the notifier shortens it when the channel needs to. */
  body: string;
  /** How loudly to tell: escalations are `high`, information `default` or lower. */
  priority: NotificationPriority;
  /** Short labels (ntfy tags, emoji names); a channel without tags may drop them. */
  tags?: string[];
  /** A link to open (the proposal page, the incident bundle). */
  url?: string;
}

/** What a notifier returns for a sent message; core stores it with the proposal and hands it back in `update`. */
export interface NotificationReceipt {
  /** Channel-specific id (ntfy message id or sequence id). */
  id: string;
  /** The notifier's name, recorded in the notification row. */
  channel: string;
}

/** A decision that arrived through the notifier's own channel (a tapped chat button). */
export interface ChannelDecision {
  /** The signed token the proposal was sent with: core checks it exactly as the approval endpoint does. */
  token: string;
  /** Which button was tapped; it must match the token's own decision. */
  decision: 'approve' | 'deny';
  /** Who decided, as the channel identifies them, e.g. `telegram:123456789`. */
  actor: string;
  /** The notifier's name. */
  channel: string;
}

/** What core answers to a channel decision; the notifier shows `message` to the human. */
export interface ChannelDecisionReply {
  /** True when the decision was recorded now; false for an invalid, expired or already used token. */
  ok: boolean;
  /** e.g. `approved: the fix runs on penny now`, `already approved at 10:02 UTC by telegram:1`. */
  message: string;
}

/** A decision attempt the notifier refused itself, before any token was looked at. */
export interface ChannelDecisionRefusal {
  /** `unauthorised-chat`, `unauthorised-user`, `unknown-button`, `malformed`, `bad-webhook-secret`. */
  reason: string;
  /** Who tried, as the channel identifies them. */
  actor: string;
  /** The notifier's name. */
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
  /**
   * Checks the token and, when it holds, records the decision (the fix then runs). Never throws
   * for a bad token: the reply says why. Called by the notifier's `listen` loop for each tap.
   */
  decide(decision: ChannelDecision): Promise<ChannelDecisionReply>;
  /** Records an attempt the notifier refused before any token check (wrong chat, forged webhook). */
  refuse(refusal: ChannelDecisionRefusal): Promise<void>;
}

/**
 * Sends proposals and messages to a human. Decisions come back through the approval endpoint
 * with a signed token, or, for a notifier with `listen`, through its own channel, still as the
 * signed token: the notifier transports the decision, it never decides.
 */
export interface Notifier {
  /** Contract version; the registry refuses versions it does not know. */
  readonly specificationVersion: 'v1';
  /** Instance name from the config (`notifier.name`, the type when not given), used in logs, errors and receipts. */
  readonly name: string;
  /**
   * Sends a proposal with its Approve / Deny / View actions and resolves once the channel
   * accepted it. Called by the engine's notification stage (the only caller), after the
   * proposal row is written. May retry transient failures within its own timeout.
   * @throws FishError `NOTIFIER_FAILED` when the channel refused it or stayed unreachable; core
   * records a failed notification row and logs it (the proposal stays open until it expires).
   */
  propose(proposal: ProposalNotice, actions: ProposalActions): Promise<NotificationReceipt>;
  /**
   * Tells the human what happened to a proposal (edits or answers the original message when the
   * channel can). Called by the notification stage. Optional: without it core sends `notify`.
   * @throws FishError `NOTIFIER_FAILED`, as `propose`.
   */
  update?(update: ProposalUpdate): Promise<NotificationReceipt | void>;
  /**
   * Sends a message that asks no decision. Called by the notification stage.
   * @throws FishError `NOTIFIER_FAILED`, as `propose`.
   */
  notify(message: NotifierMessage): Promise<NotificationReceipt>;
  /** Reaches the channel without sending to the human (auth, topic or chat exists). Called by `fish-sre doctor`; never throws. */
  check?(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  /**
   * Optional capability, detected by core: the channel carries decisions back (chat buttons).
   * Reads them until `signal` aborts (long polling, a webhook) and hands each to `sink`; resolves
   * when stopped. Without it, decisions come only through the approval endpoint's links.
   */
  listen?(sink: DecisionSink, signal: AbortSignal): Promise<void>;
  /** Releases sockets and timers. Called once by the app on shutdown (not by `engine.stop()`). */
  close?(): Promise<void>;
}
