import { describe, expect, it } from 'vitest';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import { ManualClock, systemClock, toIso } from '../util/clock.js';
import { ExecutionLeaseKeeper, StoreHostLock, StoreIncidentClaim, createInstanceId, isCoordinatingStore, type CoordinatingStore } from './store-coordination.js';

/** The memory store, declared shared: the same contract a PostgreSQL store offers several instances. */
function sharedStore(): CoordinatingStore {
  const store = { ...createMemoryAuditStore(), shared: true };
  if (!isCoordinatingStore(store)) throw new Error('the memory store should implement every coordination member');
  return store;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('coordination through a shared store', () => {
  it('gives each instance its own id, and recognises only shared stores', () => {
    expect(createInstanceId()).not.toBe(createInstanceId());
    expect(isCoordinatingStore(createMemoryAuditStore())).toBe(false);
  });

  it('runs fixes of two instances on one host one after the other, and on two hosts at once', async () => {
    const store = sharedStore();
    const first = new StoreHostLock({ store, owner: 'fish-a', clock: systemClock, retryMs: 5 });
    const second = new StoreHostLock({ store, owner: 'fish-b', clock: systemClock, retryMs: 5 });
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const a = first.runExclusive('penny', async () => {
      order.push('a start');
      await held;
      order.push('a end');
    });
    await tick();
    const b = second.runExclusive('penny', async () => {
      order.push('b start');
    });
    const other = second.runExclusive('kodi', async () => {
      order.push('other host');
    });
    await other;
    for (let index = 0; index < 10; index++) await tick();
    expect(order).toEqual(['a start', 'other host']);
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(['a start', 'other host', 'a end', 'b start']);
    // Released after use: a third owner takes it at once.
    expect(await store.acquireHostLock({ host: 'penny', owner: 'fish-c', at: toIso(Date.now()), expiresAt: toIso(Date.now() + 1000) })).toBe(true);
  });

  it('takes over a host lock a crashed instance left once its lease lapses', async () => {
    const store = sharedStore();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    expect(await store.acquireHostLock({ host: 'penny', owner: 'crashed', at: toIso(clock.now()), expiresAt: toIso(clock.now() + 30_000) })).toBe(true);
    const lock = new StoreHostLock({ store, owner: 'fish-b', clock, retryMs: 5, leaseMs: 30_000 });
    let ran = false;
    const running = lock.runExclusive('penny', async () => {
      ran = true;
    });
    for (let index = 0; index < 5; index++) await tick();
    expect(ran).toBe(false);
    clock.advance(30_000);
    await running;
    expect(ran).toBe(true);
  });

  it('claims an incident once across instances, for the cooldown counted from now', async () => {
    const store = sharedStore();
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const a = new StoreIncidentClaim({ store, owner: 'fish-a', clock });
    const b = new StoreIncidentClaim({ store, owner: 'fish-b', clock });
    // A replayed line an hour old: its event-time cooldown is over, the claim still holds 10 min.
    const incident = { fingerprint: 'f1', firstSeen: clock.now() - 3_600_000, cooldownUntil: clock.now() - 3_000_000 };
    expect(await a.claim(incident)).toBe(true);
    expect(await b.claim(incident)).toBe(false);
    clock.advance(600_000);
    expect(await b.claim(incident)).toBe(true);
  });

  it('renews an execution lease while it runs and notices when it was taken over', async () => {
    const store = sharedStore();
    const incident = {
      id: 'inc-1',
      fingerprint: 'f',
      host: 'penny',
      service: 'web',
      patternId: 'p',
      candidates: ['p'],
      confidence: 1,
      method: 'deterministic' as const,
      reason: 'r',
      evidence: [],
      eventCount: 1,
      firstSeen: toIso(0),
      lastSeen: toIso(0),
      createdAt: toIso(0),
    };
    await store.insertIncident(incident);
    await store.insertProposal({
      id: 'prop-1',
      incidentId: 'inc-1',
      patternId: 'p',
      targetHost: 'penny',
      service: 'web',
      confidence: 1,
      status: 'approved',
      dryRun: false,
      autoExec: false,
      createdAt: toIso(0),
      expiresAt: toIso(3_600_000),
    });
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const options = { store, owner: 'fish-a', clock, leaseMs: 3000 };
    await store.insertExecution({
      id: 'exe-1',
      proposalId: 'prop-1',
      patternId: 'p',
      targetHost: 'penny',
      status: 'running',
      dryRun: false,
      createdAt: toIso(0),
      updatedAt: toIso(0),
      steps: [],
      owner: 'fish-a',
      leaseExpiresAt: ExecutionLeaseKeeper.firstLeaseEnd(options),
    });
    const keeper = new ExecutionLeaseKeeper(options, 'exe-1');
    try {
      clock.advance(2000);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await store.getExecution('exe-1'))?.leaseExpiresAt).toBe(toIso(clock.now() + 3000));
      await store.transitionExecution({ id: 'exe-1', from: ['running'], to: 'interrupted', at: toIso(clock.now() + 10_000), onlyIfLeaseExpired: true });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(keeper.lost).toBe(true);
    } finally {
      keeper.stop();
    }
  });
});
