import { randomUUID } from 'node:crypto';
import type { Notifier, NotificationReceipt } from '../../contracts/notifier.js';
import type { OutboxRecord } from '../../contracts/records.js';
import { describeError } from '../../errors.js';
import { backoffDelay } from '../../plugin-utils/retry.js';
import { toIso } from '../../util/clock.js';
import { redactSecrets } from '../../util/redact.js';
import type { StageContext } from './context.js';
import { failoverNote } from './messages.js';

/** How the outbox retries and falls back. Durations in milliseconds. */
export interface OutboxOptions {
  /** Notifiers after the engine's own, in fallback order. @default none */
  fallbacks?: Notifier[];
  /** A notification moves on to the next notifier after this many failed attempts on one. @default 5 */
  failoverAfterAttempts?: number;
  /** ... or once one notifier has had it this long without delivering. @default 120000 */
  failoverAfterMs?: number;
  /** Back-off between attempts on one notifier: doubles from the first to the max. @default 2000, 300000 */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Given up (recorded as expired) when not delivered after this long; a proposal when it expires. @default 86400000 */
  expireAfterMs?: number;
  /** How often due retries are looked for. @default 1000 */
  pollMs?: number;
  /** How long a send attempt holds its row against other instances. @default 60000 */
  claimMs?: number;
}

/** What the outbox is asked to deliver: the payload is what `deliver` turns into a notifier call. */
export interface OutboxItem {
  kind: string;
  title: string;
  proposalId?: string;
  incidentId?: string;
  payload: Record<string, unknown>;
  /** @default now + expireAfterMs */
  expiresAt?: string;
}

/** What the notification stage does with a row: the notifier call, and what follows a delivery. */
export interface OutboxHandlers {
  /** Sends `entry` through `notifier`; `note` says which notifiers failed before, when any did. */
  deliver(notifier: Notifier, entry: OutboxRecord, note: string | undefined): Promise<NotificationReceipt | undefined>;
  /** Runs once the delivery is recorded. */
  delivered?(entry: OutboxRecord, receipt: NotificationReceipt | undefined): Promise<void>;
}

let sequence = 0;
/** Ordered like creation (time, then a counter), so rows written in the same millisecond keep their order. */
const newId = (now: number) => `obx_${now.toString(36).padStart(9, '0')}${(++sequence % 36 ** 4).toString(36).padStart(4, '0')}${randomUUID().replace(/-/g, '').slice(0, 10)}`;

/**
 * The delivery outbox. Every notification is written to the audit store first, then sent; a
 * failed send is retried with back-off (also after a restart: `start()` resumes pending rows)
 * until a notifier takes it or it expires. After `failoverAfterAttempts` failures, or
 * `failoverAfterMs`, on one notifier, the next one in the list gets it (after the last, the first
 * again), and the text says who failed. A row is claimed before each attempt, so two instances
 * on one store do not both send it.
 *
 * Delivery is at least once: a crash after the notifier accepted a message but before `sent` is
 * written makes the restarted fish send that message once more. Notifications of one proposal go
 * out in order: an update waits while its proposal is still undelivered.
 */
export class Outbox {
  private readonly notifiers: Notifier[];
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  /** Rows this instance is sending now: the poll must not start a second attempt beside the first. */
  private readonly sending = new Set<string>();

  constructor(
    private readonly context: StageContext,
    private readonly handlers: OutboxHandlers,
    private readonly owner: string,
    private readonly options: OutboxOptions = {},
  ) {
    this.notifiers = [context.notifier, ...(options.fallbacks ?? [])];
  }

  /** The notifiers in fallback order. */
  get chain(): readonly Notifier[] {
    return this.notifiers;
  }

  /**
   * Writes the notification, then makes its first attempt (unless an earlier notification of the
   * same proposal is still waiting). True when it was delivered now; otherwise it is retried later.
   * Throws only when the store cannot record it.
   */
  async enqueue(item: OutboxItem): Promise<boolean> {
    const now = this.context.now();
    const entry: OutboxRecord = {
      id: newId(this.context.clock.now()),
      kind: item.kind,
      title: item.title,
      ...(item.proposalId !== undefined ? { proposalId: item.proposalId } : {}),
      ...(item.incidentId !== undefined ? { incidentId: item.incidentId } : {}),
      payload: item.payload,
      status: 'pending',
      createdAt: now,
      expiresAt: item.expiresAt ?? toIso(this.context.clock.now() + (this.options.expireAfterMs ?? 86_400_000)),
      nextAttemptAt: now,
      attempts: 0,
      channel: this.notifiers[0]!.name,
      channelSince: now,
      failures: {},
    };
    await this.context.audit.enqueueOutbox(entry);
    if (item.proposalId !== undefined) {
      const waiting = await this.context.audit.listOutbox({ proposalId: item.proposalId, status: 'pending', limit: 2 });
      if (waiting.some((row) => row.id !== entry.id && row.createdAt <= entry.createdAt)) return false;
    }
    return this.attempt(entry, entry.createdAt);
  }

  /** Resumes what a previous run left pending, then looks for due retries every `pollMs`. */
  async start(): Promise<void> {
    if (!this.context.audit.shared) {
      // No other instance can hold a row of this store: a claim left by a previous run of this
      // one (a crash mid-send) is over now.
      const left = await this.context.audit.listOutbox({ status: 'pending', limit: 1000 });
      for (const row of left) {
        await this.context.audit.recordSystemEvent(
          'resume-notification',
          { outboxId: row.id, kind: row.kind, ...(row.proposalId !== undefined ? { proposalId: row.proposalId } : {}), attempts: row.attempts },
          this.context.now(),
        );
        if (row.claimedBy !== undefined && row.claimedBy !== this.owner && row.claimedUntil !== undefined) {
          await this.context.audit.claimOutbox({ id: row.id, owner: this.owner, at: row.claimedUntil, until: this.context.now() });
        }
      }
    }
    this.timer = setInterval(() => this.poll(), this.options.pollMs ?? 1000);
    this.timer.unref();
    await this.drain();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Takes a pending row off the queue for good (expired, `withdrawn: reason`): its text is no
   * longer true. Claimed first, so a send in progress (here or on a peer) is never overtaken:
   * false while one holds it, or when the row is no longer pending. `staleClaim`: a claim left
   * by a previous run (nobody else uses the store) does not count.
   */
  async withdraw(row: OutboxRecord, reason: string, staleClaim = false): Promise<boolean> {
    const { audit, clock } = this.context;
    if (this.sending.has(row.id)) return false;
    const owner = `${this.owner}:withdraw`;
    const at = staleClaim && row.claimedUntil !== undefined ? row.claimedUntil : this.context.now();
    const claimed = await audit.claimOutbox({ id: row.id, owner, at, until: toIso(clock.now() + (this.options.claimMs ?? 60_000)) });
    if (!claimed) return false;
    const now = this.context.now();
    return audit.settleOutbox({
      id: claimed.id,
      owner,
      at: now,
      status: 'expired',
      attempts: claimed.attempts,
      failures: claimed.failures,
      channel: claimed.channel,
      channelSince: claimed.channelSince,
      nextAttemptAt: now,
      lastError: `withdrawn: ${reason}`,
    });
  }

  /** Pending notifications and the oldest one's age. */
  backlog(): Promise<{ pending: number; oldestCreatedAt?: string }> {
    return this.context.audit.outboxBacklog();
  }

  /** Starts a pass over due rows unless one runs. */
  poll(): void {
    if (this.draining) return;
    void this.context.tasks.track(this.drain());
  }

  private async drain(): Promise<void> {
    if (this.draining) return this.draining;
    this.draining = (async () => {
      const now = this.context.clock.now();
      // Oldest first; an undelivered notification of a proposal holds back its later ones.
      const waiting = new Set<string>();
      for (const row of await this.context.audit.listOutbox({ status: 'pending', limit: 1000 })) {
        if (row.proposalId !== undefined && waiting.has(row.proposalId)) continue;
        const claimed = row.claimedBy !== undefined && row.claimedBy !== this.owner && Date.parse(row.claimedUntil ?? '') > now;
        const sent = !claimed && Date.parse(row.nextAttemptAt) <= now && (await this.attempt(row, this.context.now()));
        if (!sent && row.proposalId !== undefined) waiting.add(row.proposalId);
      }
    })();
    try {
      await this.draining;
    } finally {
      this.draining = undefined;
    }
  }

  /** One claimed attempt; true when the notification was delivered. */
  private async attempt(row: OutboxRecord, at: string): Promise<boolean> {
    if (this.sending.has(row.id)) return false;
    this.sending.add(row.id);
    try {
      return await this.attemptClaimed(row, at);
    } finally {
      this.sending.delete(row.id);
    }
  }

  private async attemptClaimed(row: OutboxRecord, at: string): Promise<boolean> {
    const { audit, clock } = this.context;
    const entry = await audit.claimOutbox({ id: row.id, owner: this.owner, at, until: toIso(clock.now() + (this.options.claimMs ?? 60_000)) });
    if (!entry) return false;
    const base = { id: entry.id, owner: this.owner, attempts: entry.attempts, failures: entry.failures };
    if (Date.parse(entry.expiresAt) <= clock.now()) {
      const settledAt = this.context.now();
      const error = `not delivered before it expired at ${entry.expiresAt} (${entry.attempts} failed attempts${entry.lastError ? `, last: ${entry.lastError}` : ''})`;
      await audit.settleOutbox({ ...base, at: settledAt, status: 'expired', channel: entry.channel, channelSince: entry.channelSince, nextAttemptAt: settledAt, lastError: error });
      this.context.counters.add('notificationsExpired', { kind: entry.kind });
      await this.record(entry, entry.channel, { ok: false, error });
      return false;
    }
    const index = Math.max(
      0,
      this.notifiers.findIndex((notifier) => notifier.name === entry.channel),
    );
    const notifier = this.notifiers[index]!;
    const started = clock.now();
    let receipt: NotificationReceipt | undefined;
    try {
      receipt = await this.handlers.deliver(notifier, entry, failoverNote(notifier.name, entry.failures));
    } catch (error) {
      this.measure(started, entry.kind, notifier.name, false);
      const next = await this.failed(entry, index, error);
      // The next notifier in the list gets it at once (not the first again: that waits for the back-off).
      return next > index ? this.attemptClaimed(entry, this.context.now()) : false;
    }
    this.measure(started, entry.kind, notifier.name, true);
    const sentAt = this.context.now();
    await audit.settleOutbox({ ...base, at: sentAt, status: 'sent', channel: notifier.name, channelSince: entry.channelSince, nextAttemptAt: sentAt, ...(receipt ? { receiptId: receipt.id } : {}) });
    await this.record(entry, receipt?.channel ?? notifier.name, { ok: true, ...(receipt ? { receiptId: receipt.id } : {}) });
    await this.handlers.delivered?.(entry, receipt);
    return true;
  }

  /** Counts the failure, moves on to the next notifier when this one had its turn, and schedules the retry; answers the index of the notifier that has it now. */
  private async failed(entry: OutboxRecord, index: number, error: unknown): Promise<number> {
    const { clock } = this.context;
    const notifier = this.notifiers[index]!;
    const message = redactSecrets(describeError(error));
    const failures = { ...entry.failures, [notifier.name]: (entry.failures[notifier.name] ?? 0) + 1 };
    const attempts = entry.attempts + 1;
    const turnOver =
      this.notifiers.length > 1 &&
      (failures[notifier.name]! % (this.options.failoverAfterAttempts ?? 5) === 0 || clock.now() - Date.parse(entry.channelSince) >= (this.options.failoverAfterMs ?? 120_000));
    const now = this.context.now();
    const nextIndex = turnOver ? (index + 1) % this.notifiers.length : index;
    const next = this.notifiers[nextIndex]!;
    const delay = turnOver ? 0 : backoffDelay(failures[notifier.name]!, { initialDelayMs: this.options.retryInitialMs ?? 2000, maxDelayMs: this.options.retryMaxMs ?? 300_000, jitter: 0.25 });
    await this.context.audit.settleOutbox({
      id: entry.id,
      owner: this.owner,
      at: now,
      status: 'pending',
      attempts,
      failures,
      channel: next.name,
      channelSince: turnOver ? now : entry.channelSince,
      nextAttemptAt: toIso(clock.now() + delay),
      lastError: message,
    });
    await this.record(entry, notifier.name, { ok: false, error: message });
    if (turnOver) this.context.logger.warn(`${entry.kind} ${entry.id}: ${notifier.name} failed ${failures[notifier.name]}×, handing it to ${next.name}`);
    this.context.fail(error);
    return nextIndex;
  }

  private measure(started: number, kind: string, notifier: string, ok: boolean): void {
    this.context.counters.add(ok ? 'notifications' : 'notificationFailures', { kind, notifier });
    this.context.counters.observe('notification', this.context.clock.now() - started, { kind, outcome: ok ? 'sent' : 'failed' });
  }

  private async record(entry: OutboxRecord, channel: string, result: { ok: boolean; receiptId?: string; error?: string }): Promise<void> {
    await this.context.audit.recordNotification({
      id: `ntf_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      kind: entry.kind,
      ...(entry.proposalId !== undefined ? { proposalId: entry.proposalId } : {}),
      ...(entry.incidentId !== undefined ? { incidentId: entry.incidentId } : {}),
      channel,
      title: entry.title,
      sentAt: this.context.now(),
      ...result,
    });
  }
}
