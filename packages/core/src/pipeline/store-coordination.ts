import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { AuditStore } from '../contracts/audit-store.js';
import { FishError, describeError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { toIso } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { sleep } from '../util/sleep.js';
import { HostMutex } from './host-mutex.js';

/** How long an owner's claim (execution lease, host lock) holds unless renewed. @default 30 s */
export const DEFAULT_LEASE_MS = 30_000;

/**
 * A name for this fish instance that no other instance on the same store has: the machine,
 * the process and a random part (a restarted process is a new instance; its predecessor's
 * leases simply expire).
 */
export function createInstanceId(): string {
  return `${hostname()
    .replace(/[^A-Za-z0-9.-]/g, '-')
    .slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The AuditStore members several instances coordinate through. */
export type CoordinatingStore = AuditStore & Required<Pick<AuditStore, 'acquireHostLock' | 'releaseHostLock' | 'claimIncident' | 'renewExecutionLease'>>;

/** True when the store is shared by several instances and implements every coordination member. */
export function isCoordinatingStore(store: AuditStore): store is CoordinatingStore {
  return (
    store.shared === true &&
    typeof store.acquireHostLock === 'function' &&
    typeof store.releaseHostLock === 'function' &&
    typeof store.claimIncident === 'function' &&
    typeof store.renewExecutionLease === 'function'
  );
}

export interface StoreCoordinationOptions {
  store: CoordinatingStore;
  /** This instance (see createInstanceId). */
  owner: string;
  clock: Clock;
  logger?: Logger;
  /** @default DEFAULT_LEASE_MS */
  leaseMs?: number;
  /** How often a held host lock is polled for while another instance holds it. @default 1000 */
  retryMs?: number;
}

/**
 * The per-host lock across instances: the in-process FIFO mutex first (fixes of this instance
 * queue in order), then a lock row in the shared store, renewed while the fix runs and released
 * after it. A crashed holder's lock lapses after the lease, so a host is never locked for good.
 */
export class StoreHostLock {
  private readonly local = new HostMutex();
  private readonly leaseMs: number;
  private readonly logger: Logger;

  constructor(private readonly options: StoreCoordinationOptions) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.logger = options.logger ?? silentLogger;
  }

  runExclusive<T>(host: string, task: () => Promise<T>): Promise<T> {
    return this.local.runExclusive(host, async () => {
      await this.acquire(host);
      const renewal = setInterval(
        () =>
          void this.take(host).then(
            (held) => {
              if (!held) this.logger.warn(`the lock of host ${host} was taken by another instance while a fix ran here`);
            },
            (error: unknown) => this.logger.warn(`could not renew the lock of host ${host}: ${describeError(error)}`),
          ),
        Math.max(1000, Math.floor(this.leaseMs / 3)),
      );
      renewal.unref();
      try {
        return await task();
      } finally {
        clearInterval(renewal);
        await this.options.store
          .releaseHostLock({ host, owner: this.options.owner })
          .catch((error: unknown) => this.logger.warn(`could not release the lock of host ${host} (it lapses by itself): ${describeError(error)}`));
      }
    });
  }

  private take(host: string): Promise<boolean> {
    const now = this.options.clock.now();
    return this.options.store.acquireHostLock({ host, owner: this.options.owner, at: toIso(now), expiresAt: toIso(now + this.leaseMs) });
  }

  /** Waits while another instance holds the host; a store that is briefly unreachable is waited for too. */
  private async acquire(host: string): Promise<void> {
    let waitingSaid = false;
    for (;;) {
      try {
        if (await this.take(host)) return;
        if (!waitingSaid) this.logger.info(`host ${host} is locked by another fish instance; waiting for its fix to end`);
        waitingSaid = true;
      } catch (error) {
        if (!(FishError.isInstance(error) && error.isRetryable)) throw error;
        this.logger.warn(`cannot take the lock of host ${host} yet: ${describeError(error)}`);
      }
      await sleep(this.options.retryMs ?? 1000);
    }
  }
}

/**
 * One incident per problem across instances: the first instance to claim a fingerprint opens
 * the incident; another that detects the same problem during the cooldown drops it (counted).
 * The claim lasts as long as the cooldown, counted from now: instances that read the same line
 * at slightly different times still agree.
 */
export class StoreIncidentClaim {
  constructor(private readonly options: StoreCoordinationOptions) {}

  async claim(incident: { fingerprint: string; host?: string; service?: string; firstSeen: number; cooldownUntil: number }): Promise<boolean> {
    const now = this.options.clock.now();
    const cooldown = Math.max(0, incident.cooldownUntil - incident.firstSeen);
    const until = Math.max(incident.cooldownUntil, now + cooldown);
    const claimed = await this.options.store.claimIncident({ fingerprint: incident.fingerprint, owner: this.options.owner, at: toIso(now), until: toIso(until) });
    if (!claimed)
      this.options.logger?.info(
        `incident ${incident.fingerprint}${incident.host ? ` on ${incident.host}/${incident.service ?? ''}` : ''} is already claimed by another fish instance: counted as a duplicate`,
      );
    return claimed;
  }
}

/**
 * Keeps this instance's lease on an execution alive while it runs. `lost` turns true when a
 * renewal is refused: a peer's recovery took the execution over, and the runner must stop
 * after the current step (its next compare-and-set fails anyway).
 */
export class ExecutionLeaseKeeper {
  lost = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: StoreCoordinationOptions,
    private readonly executionId: string,
  ) {
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.timer = setInterval(() => void this.renew(leaseMs), Math.max(1000, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  /** The lease end to write with a new execution row. */
  static firstLeaseEnd(options: Pick<StoreCoordinationOptions, 'clock' | 'leaseMs'>): string {
    return toIso(options.clock.now() + (options.leaseMs ?? DEFAULT_LEASE_MS));
  }

  private async renew(leaseMs: number): Promise<void> {
    const now = this.options.clock.now();
    try {
      const renewed = await this.options.store.renewExecutionLease({ id: this.executionId, owner: this.options.owner, leaseExpiresAt: toIso(now + leaseMs), at: toIso(now) });
      if (!renewed && !this.lost) {
        this.lost = true;
        this.options.logger?.warn(`execution ${this.executionId}: the lease was not renewed (finished, or taken over by another instance)`);
      }
    } catch (error) {
      // The store may be briefly unreachable: the next tick tries again, well before the lease ends.
      this.options.logger?.warn(`execution ${this.executionId}: could not renew the lease: ${describeError(error)}`);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
