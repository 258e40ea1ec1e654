import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditStore, ExecutionRecord } from '@fish-sre/core';

export interface CoordinationSuiteOptions {
  name: string;
  createStore: () => AuditStore | Promise<AuditStore>;
  /**
   * A second store on the same database as the one given, as another fish instance would open
   * it. When present, the races below are spread over both stores.
   */
  createPeer?: (store: AuditStore) => AuditStore | Promise<AuditStore>;
  /** Seeds an approved proposal and inserts the execution given; answers its id. */
  seed: (store: AuditStore, overrides: Partial<ExecutionRecord>) => Promise<ExecutionRecord>;
}

const T0 = Date.UTC(2026, 0, 15, 11, 0, 0);
const at = (offsetSeconds: number) => new Date(T0 + offsetSeconds * 1000).toISOString();
let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

type Coordinated = AuditStore & Required<Pick<AuditStore, 'renewExecutionLease' | 'acquireHostLock' | 'releaseHostLock' | 'claimIncident'>>;

/**
 * Ownership, leases, host locks and incident claims: what lets several fish instances share one
 * store without running a fix twice, running two fixes on one host, or opening one problem twice.
 */
export function testAuditStoreCoordination(options: CoordinationSuiteOptions): void {
  describe(`AuditStore coordination: ${options.name}`, () => {
    let store: Coordinated;
    let peer: Coordinated;

    beforeEach(async () => {
      store = (await options.createStore()) as Coordinated;
      await store.init?.();
      peer = store;
      if (options.createPeer) {
        peer = (await options.createPeer(store)) as Coordinated;
        await peer.init?.();
      }
    });

    afterEach(async () => {
      if (peer !== store) await peer.close?.();
      await store.close?.();
    });

    it('implements every coordination member', () => {
      for (const member of ['renewExecutionLease', 'acquireHostLock', 'releaseHostLock', 'claimIncident'] as const) expect(typeof store[member]).toBe('function');
    });

    it("keeps an execution's owner and lease, and renews the lease only for its owner while it is unfinished", async () => {
      const execution = await options.seed(store, { owner: 'fish-a', leaseExpiresAt: at(30) });
      expect(await peer.getExecution(execution.id)).toMatchObject({ owner: 'fish-a', leaseExpiresAt: at(30) });
      expect(await peer.renewExecutionLease({ id: execution.id, owner: 'fish-a', leaseExpiresAt: at(60), at: at(20) })).toBe(true);
      expect((await store.getExecution(execution.id))?.leaseExpiresAt).toBe(at(60));
      expect(await store.renewExecutionLease({ id: execution.id, owner: 'fish-b', leaseExpiresAt: at(90), at: at(21) })).toBe(false);
      expect((await store.getExecution(execution.id))?.leaseExpiresAt).toBe(at(60));
      await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: at(22) });
      await store.transitionExecution({ id: execution.id, from: ['running'], to: 'succeeded', at: at(23) });
      expect(await store.renewExecutionLease({ id: execution.id, owner: 'fish-a', leaseExpiresAt: at(120), at: at(24) })).toBe(false);
      expect(await store.renewExecutionLease({ id: 'no-such-execution', owner: 'fish-a', leaseExpiresAt: at(120), at: at(24) })).toBe(false);
    });

    it('lets recovery take over only an execution whose lease expired, never a live one', async () => {
      const execution = await options.seed(store, { owner: 'fish-a', leaseExpiresAt: at(30) });
      await store.transitionExecution({ id: execution.id, from: ['pending'], to: 'running', at: at(5) });
      const early = await peer.transitionExecution({ id: execution.id, from: ['pending', 'running', 'verifying'], to: 'interrupted', at: at(29), onlyIfLeaseExpired: true });
      expect(early).toBeUndefined();
      expect((await store.getExecution(execution.id))?.status).toBe('running');
      const late = await peer.transitionExecution({ id: execution.id, from: ['pending', 'running', 'verifying'], to: 'interrupted', at: at(30), onlyIfLeaseExpired: true });
      expect(late?.status).toBe('interrupted');
      // The old owner has lost it: its renewal is refused, so it runs no further step.
      expect(await store.renewExecutionLease({ id: execution.id, owner: 'fish-a', leaseExpiresAt: at(90), at: at(31) })).toBe(false);
    });

    it('lets recovery take over an execution that has no owner (written before leases existed)', async () => {
      const execution = await options.seed(store, {});
      const taken = await peer.transitionExecution({ id: execution.id, from: ['pending'], to: 'interrupted', at: at(1), onlyIfLeaseExpired: true });
      expect(taken?.status).toBe('interrupted');
    });

    it('gives a host lock to one owner at a time; it lapses unless renewed and only its owner releases it', async () => {
      const host = unique('host');
      expect(await store.acquireHostLock({ host, owner: 'fish-a', at: at(0), expiresAt: at(30) })).toBe(true);
      expect(await peer.acquireHostLock({ host, owner: 'fish-b', at: at(10), expiresAt: at(40) })).toBe(false);
      expect(await store.acquireHostLock({ host, owner: 'fish-a', at: at(20), expiresAt: at(50) })).toBe(true); // renewed
      expect(await peer.acquireHostLock({ host, owner: 'fish-b', at: at(45), expiresAt: at(75) })).toBe(false);
      await peer.releaseHostLock({ host, owner: 'fish-b' }); // not its lock: nothing happens
      expect(await peer.acquireHostLock({ host, owner: 'fish-b', at: at(46), expiresAt: at(76) })).toBe(false);
      expect(await peer.acquireHostLock({ host, owner: 'fish-b', at: at(50), expiresAt: at(80) })).toBe(true); // lapsed
      await peer.releaseHostLock({ host, owner: 'fish-b' });
      expect(await store.acquireHostLock({ host, owner: 'fish-a', at: at(51), expiresAt: at(81) })).toBe(true);
      expect(await store.acquireHostLock({ host: unique('other-host'), owner: 'fish-b', at: at(51), expiresAt: at(81) })).toBe(true);
    });

    it('gives a host lock to exactly one of 20 concurrent owners', async () => {
      const host = unique('host');
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? store : peer).acquireHostLock({ host, owner: `fish-${index}`, at: at(0), expiresAt: at(30) })));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('claims an incident fingerprint once per cooldown', async () => {
      const fingerprint = unique('fingerprint');
      expect(await store.claimIncident({ fingerprint, owner: 'fish-a', at: at(0), until: at(600) })).toBe(true);
      expect(await peer.claimIncident({ fingerprint, owner: 'fish-b', at: at(1), until: at(601) })).toBe(false);
      expect(await store.claimIncident({ fingerprint, owner: 'fish-a', at: at(2), until: at(602) })).toBe(false);
      expect(await peer.claimIncident({ fingerprint, owner: 'fish-b', at: at(600), until: at(1200) })).toBe(true);
      expect(await store.claimIncident({ fingerprint: unique('fingerprint'), owner: 'fish-a', at: at(3), until: at(603) })).toBe(true);
    });

    it('lets exactly one of 20 concurrent claims of one fingerprint win', async () => {
      const fingerprint = unique('fingerprint');
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? store : peer).claimIncident({ fingerprint, owner: `fish-${index}`, at: at(0), until: at(600) })));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}
