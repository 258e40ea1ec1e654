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

/**
 * Sends proposals and messages to a human. Decisions come back through the approval endpoint
 * with a signed token, never through the notifier.
 */
export interface Notifier {
  readonly specificationVersion: 'v1';
  readonly name: string;
  propose(proposal: ProposalNotice, actions: ProposalActions): Promise<NotificationReceipt>;
  /** Tells the human what happened to a proposal. Optional: without it core sends `notify`. */
  update?(update: ProposalUpdate): Promise<NotificationReceipt | void>;
  notify(message: NotifierMessage): Promise<NotificationReceipt>;
  check?(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  close?(): Promise<void>;
}
