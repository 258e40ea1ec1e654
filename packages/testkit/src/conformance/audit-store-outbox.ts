import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditStore, OutboxRecord, OutboxSettlement } from '@fish-sre/core';

export interface OutboxSuiteOptions {
  name: string;
  createStore: () => AuditStore | Promise<AuditStore>;
  /** A second store on the same database (another instance), when the store can be shared. */
  createPeer?: (store: AuditStore) => AuditStore | Promise<AuditStore>;
}

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const at = (offsetSeconds: number) => new Date(T0 + offsetSeconds * 1000).toISOString();
let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

export function sampleOutboxEntry(overrides: Partial<OutboxRecord> = {}): OutboxRecord {
  return {
    id: unique('obx'),
    kind: 'escalation',
    incidentId: unique('inc'),
    title: 'Fix failed on penny — a human is needed',
    payload: { kind: 'escalation', title: 'Fix failed on penny — a human is needed', body: 'verify exited 1 ✗', priority: 'high', tags: ['warning'] },
    status: 'pending',
    createdAt: at(0),
    expiresAt: at(86_400),
    nextAttemptAt: at(0),
    attempts: 0,
    channel: 'ntfy',
    channelSince: at(0),
    failures: {},
    ...overrides,
  };
}

/**
 * The delivery outbox: a notification written before it is sent, claimed by one sender at a
 * time (a claim lapses, so a crashed sender does not keep it), and settled as retried, sent or
 * expired, with every step in the history.
 */
export function testAuditStoreOutbox(options: OutboxSuiteOptions): void {
  describe(`AuditStore outbox: ${options.name}`, () => {
    let store: AuditStore;
    let peer: AuditStore;

    beforeEach(async () => {
      store = await options.createStore();
      await store.init?.();
      peer = store;
      if (options.createPeer) {
        peer = await options.createPeer(store);
        await peer.init?.();
      }
    });

    afterEach(async () => {
      if (peer !== store) await peer.close?.();
      await store.close?.();
    });

    const mine = (rows: OutboxRecord[], ...ids: string[]) => rows.filter((row) => ids.includes(row.id));
    const failure = (entry: OutboxRecord, owner: string, overrides: Partial<OutboxSettlement> = {}): OutboxSettlement => ({
      id: entry.id,
      owner,
      at: at(2),
      status: 'pending',
      attempts: 1,
      channel: 'ntfy',
      channelSince: entry.channelSince,
      failures: { ntfy: 1 },
      nextAttemptAt: at(4),
      lastError: 'ntfy answered 502',
      ...overrides,
    });

    it('keeps a queued notification as given, pending, and counts it in the backlog', async () => {
      const before = await store.outboxBacklog();
      const entry = sampleOutboxEntry({ proposalId: unique('prop') });
      await store.enqueueOutbox(entry);
      expect(mine(await store.listOutbox({ status: 'pending', limit: 10_000 }), entry.id)).toEqual([entry]);
      expect(await store.listOutbox({ proposalId: entry.proposalId! })).toEqual([entry]);
      const after = await store.outboxBacklog();
      expect(after.pending).toBe(before.pending + 1);
      expect(after.oldestCreatedAt! <= entry.createdAt).toBe(true);
      await expect(store.enqueueOutbox(entry)).rejects.toThrow();
    });

    it('lists due rows oldest first and leaves out rows not due yet', async () => {
      const later = sampleOutboxEntry({ createdAt: at(1), nextAttemptAt: at(60) });
      const first = sampleOutboxEntry({ createdAt: at(0) });
      const second = sampleOutboxEntry({ createdAt: at(1) });
      for (const entry of [later, second, first]) await store.enqueueOutbox(entry);
      const due = mine(await store.listOutbox({ dueBy: at(10), limit: 10_000 }), later.id, first.id, second.id);
      expect(due.map((row) => row.id)).toEqual([first.id, second.id]);
      expect(mine(await store.listOutbox({ dueBy: at(60), limit: 10_000 }), later.id)).toHaveLength(1);
    });

    it('gives a row to one sender at a time, and to another once the claim lapsed', async () => {
      const entry = sampleOutboxEntry();
      await store.enqueueOutbox(entry);
      const claimed = await store.claimOutbox({ id: entry.id, owner: 'a', at: at(1), until: at(31) });
      expect(claimed).toMatchObject({ id: entry.id, claimedBy: 'a', payload: entry.payload });
      expect(await peer.claimOutbox({ id: entry.id, owner: 'b', at: at(2), until: at(32) })).toBeUndefined();
      expect(mine(await peer.listOutbox({ dueBy: at(2), limit: 10_000 }), entry.id)).toEqual([]);
      expect(await store.claimOutbox({ id: entry.id, owner: 'a', at: at(3), until: at(33) })).toMatchObject({ claimedBy: 'a' });
      // a crashed sender: its claim lapses and the row is due again for anyone
      expect(mine(await peer.listOutbox({ dueBy: at(40), limit: 10_000 }), entry.id)).toHaveLength(1);
      expect(await peer.claimOutbox({ id: entry.id, owner: 'b', at: at(40), until: at(70) })).toMatchObject({ claimedBy: 'b' });
      expect(await store.settleOutbox(failure(entry, 'a'))).toBe(false);
      expect(await store.claimOutbox({ id: unique('obx'), owner: 'a', at: at(1), until: at(31) })).toBeUndefined();
    });

    it('settles a failed attempt for a later retry, then a delivery, once', async () => {
      const entry = sampleOutboxEntry();
      await store.enqueueOutbox(entry);
      expect(await store.settleOutbox(failure(entry, 'a'))).toBe(false); // not claimed
      await store.claimOutbox({ id: entry.id, owner: 'a', at: at(1), until: at(31) });
      expect(await store.settleOutbox(failure(entry, 'a'))).toBe(true);
      const [retried] = await store.listOutbox({ status: 'pending', limit: 10_000 }).then((rows) => mine(rows, entry.id));
      expect(retried).toMatchObject({ status: 'pending', attempts: 1, failures: { ntfy: 1 }, nextAttemptAt: at(4), lastError: 'ntfy answered 502' });
      expect(retried!.claimedBy).toBeUndefined();
      expect(mine(await store.listOutbox({ dueBy: at(3), limit: 10_000 }), entry.id)).toEqual([]);

      await peer.claimOutbox({ id: entry.id, owner: 'b', at: at(5), until: at(35) });
      const sent = failure(entry, 'b', { at: at(6), status: 'sent', attempts: 1, channel: 'telegram', channelSince: at(5), failures: { ntfy: 1 }, nextAttemptAt: at(6), receiptId: '4711' });
      delete sent.lastError;
      expect(await peer.settleOutbox(sent)).toBe(true);
      expect(await peer.settleOutbox(sent)).toBe(false);
      const [done] = mine(await store.listOutbox({ status: 'sent', limit: 10_000 }), entry.id);
      expect(done).toMatchObject({ status: 'sent', channel: 'telegram', receiptId: '4711', settledAt: at(6), lastError: 'ntfy answered 502' });
      expect(await store.claimOutbox({ id: entry.id, owner: 'a', at: at(7), until: at(37) })).toBeUndefined();
      expect(mine(await store.listOutbox({ status: 'pending', limit: 10_000 }), entry.id)).toEqual([]);
      const history = (await store.history({ entityId: entry.id })).map((row) => `${row.entity}:${row.action}`);
      expect(history).toEqual(['outbox:queued', 'outbox:retry', 'outbox:sent']);
    });

    it('records a row given up as expired, out of the backlog', async () => {
      const entry = sampleOutboxEntry({ expiresAt: at(10) });
      await store.enqueueOutbox(entry);
      const before = await store.outboxBacklog();
      await store.claimOutbox({ id: entry.id, owner: 'a', at: at(11), until: at(41) });
      expect(await store.settleOutbox(failure(entry, 'a', { at: at(11), status: 'expired', attempts: 0, failures: {}, nextAttemptAt: at(11), lastError: 'expired before delivery' }))).toBe(true);
      expect((await store.outboxBacklog()).pending).toBe(before.pending - 1);
      expect(mine(await store.listOutbox({ status: 'expired', limit: 10_000 }), entry.id)[0]).toMatchObject({ status: 'expired', settledAt: at(11) });
    });
  });
}
