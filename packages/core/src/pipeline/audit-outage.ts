import type { Notifier, NotifierMessage } from '../contracts/notifier.js';
import { FishError, FishErrorCode, describeError } from '../errors.js';
import type { Logger } from '../util/logger.js';

export interface AuditOutageQueueOptions<Item> {
  /** Routes one held item again; throws (an outage again) when the store still cannot record it. */
  retry: (item: Item) => Promise<void>;
  logger: Logger;
  /**
   * Who receives the notice that cannot be recorded (the store is what is down), tried in this
   * order until one takes it; sent once per outage, when the first item is held.
   */
  notifiers: readonly Notifier[];
  /** How often held items are tried again. @default 5000 */
  retryMs?: number;
  /** At most this many items are held; older ones are dropped (and logged) beyond it. @default 1000 */
  capacity?: number;
  /** Called with an item dropped beyond `capacity` (it will not be routed again). */
  onDrop?: (item: Item) => void;
}

/**
 * Sends a message that cannot go through the outbox (the outbox lives in the audit store) to the
 * first notifier that takes it, in the configured order: the fallbacks still reach the human when
 * the store and the first notifier are down together.
 */
export async function notifyInTurn(notifiers: readonly Notifier[], message: NotifierMessage): Promise<void> {
  const failures: string[] = [];
  for (const notifier of notifiers) {
    try {
      await notifier.notify(message);
      return;
    } catch (error) {
      failures.push(`${notifier.name}: ${describeError(error)}`);
    }
  }
  throw new FishError({ code: FishErrorCode.NOTIFIER_FAILED, message: `no notifier took the message (${failures.join('; ')})` });
}

/** True when the audit store could not record (unreachable, restarting): the same call may succeed later. */
export function isAuditOutage(error: unknown): boolean {
  if (!FishError.isInstance(error)) return false;
  // Unreachable is an outage even when the store cannot tell whether it will come back: held, said once.
  return error.code === FishErrorCode.AUDIT_UNREACHABLE || (error.isRetryable && error.code === FishErrorCode.AUDIT_FAILED);
}

/**
 * What fish does while its audit store is unreachable: detection goes on, and an incident it
 * cannot record is held here (bounded) and routed again every few seconds until the store
 * answers. Nothing is proposed, run or notified from a held incident before it is recorded; one
 * notice says that the store is away and how much is waiting.
 */
export class AuditOutageQueue<Item> {
  private readonly held: Item[] = [];
  private timer: NodeJS.Timeout | undefined;
  private retrying = false;
  private dropped = 0;

  constructor(private readonly options: AuditOutageQueueOptions<Item>) {}

  /** Items waiting for the store. */
  get size(): number {
    return this.held.length;
  }

  hold(item: Item, error: unknown): void {
    const first = this.held.length === 0 && this.timer === undefined;
    this.held.push(item);
    if (this.held.length > (this.options.capacity ?? 1000)) {
      const dropped = this.held.shift()!;
      this.dropped++;
      this.options.onDrop?.(dropped);
    }
    this.options.logger.warn(`audit store unreachable: ${this.held.length} incident(s) held, nothing is proposed until they are recorded (${describeError(error)})`);
    if (first) {
      void notifyInTurn(this.options.notifiers, {
        kind: 'info',
        title: 'fish: audit store unreachable',
        body: 'fish cannot record to its audit store. It keeps watching; incidents are held and proposed once they are recorded. This notice itself is not in the audit trail.',
        priority: 'high',
        tags: ['warning'],
      }).catch((notifyError: unknown) => this.options.logger.warn(`could not send the audit-outage notice: ${describeError(notifyError)}`));
    }
    this.timer ??= setInterval(() => void this.retryAll(), this.options.retryMs ?? 5000);
    this.timer.unref();
  }

  private async retryAll(): Promise<void> {
    if (this.retrying) return;
    this.retrying = true;
    try {
      while (this.held.length > 0) {
        const item = this.held[0]!;
        try {
          await this.options.retry(item);
        } catch (error) {
          if (isAuditOutage(error)) {
            this.options.logger.warn(`audit store still unreachable: ${this.held.length} incident(s) held (${describeError(error)})`);
            return;
          }
          this.options.logger.error(`a held incident failed for good: ${describeError(error)}`);
        }
        this.held.shift();
      }
      this.options.logger.info(`audit store reachable again: every held incident is recorded${this.dropped > 0 ? ` (${this.dropped} older one(s) were dropped beyond the queue's capacity)` : ''}`);
      this.dropped = 0;
      this.stop();
    } finally {
      this.retrying = false;
    }
  }

  /** Stops retrying (engine stop). Held items stay lost with the process: they were never recorded. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
