import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AbsenceStreamRecord, AuditStore } from '@fish-sre/core';

export interface AbsenceSuiteOptions {
  name: string;
  createStore: () => AuditStore | Promise<AuditStore>;
  /** A second store on the same database (another instance, or the next run after a restart). */
  createPeer?: (store: AuditStore) => AuditStore | Promise<AuditStore>;
}

const T0 = Date.UTC(2026, 3, 20, 3, 0, 0);
const at = (offsetSeconds: number) => new Date(T0 + offsetSeconds * 1000).toISOString();
let counter = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`;

type Kept = AuditStore & Required<Pick<AuditStore, 'listAbsenceStreams' | 'saveAbsenceStreams'>>;

/**
 * The streams of the `absent` signals: written by one run, read by the next, merged when two
 * writers meet (a newer sign of life wins; a reported silence stays reported), deleted on demand.
 */
export function testAuditStoreAbsence(options: AbsenceSuiteOptions): void {
  describe(`AuditStore absence streams: ${options.name}`, () => {
    let store: Kept;
    let peer: Kept;

    beforeEach(async () => {
      store = (await options.createStore()) as Kept;
      await store.init?.();
      peer = store;
      if (options.createPeer) {
        peer = (await options.createPeer(store)) as Kept;
        await peer.init?.();
      }
    });

    afterEach(async () => {
      if (peer !== store) await peer.close?.();
      await store.close?.();
    });

    const stream = (patternId: string, overrides: Partial<AbsenceStreamRecord> = {}): AbsenceStreamRecord => ({
      patternId,
      signalId: 'no-success',
      host: 'nas',
      service: 'restic-backup',
      lastSeen: at(0),
      reported: false,
      ...overrides,
    });
    const mine = async (from: Kept, patternId: string) => (await from.listAbsenceStreams({ limit: 10_000 })).filter((row) => row.patternId === patternId);

    it('implements listAbsenceStreams and saveAbsenceStreams', () => {
      expect(typeof store.listAbsenceStreams).toBe('function');
      expect(typeof store.saveAbsenceStreams).toBe('function');
    });

    it('hands the next run what this one wrote, most recent sign of life first, at most `limit`', async () => {
      const patternId = unique('backup-silent');
      const rows = [
        stream(patternId, { host: 'nas', lastSeen: at(0) }),
        stream(patternId, { host: 'vault', lastSeen: at(60), reported: true }),
        stream(patternId, { host: 'penny "β"', service: 'borg backup', lastSeen: at(30) }),
      ];
      await store.saveAbsenceStreams({ streams: rows, removed: [] });
      expect(await mine(peer, patternId)).toEqual([rows[1], rows[2], rows[0]]);
      const limited = await peer.listAbsenceStreams({ limit: 1 });
      expect(limited).toHaveLength(1);
      await store.saveAbsenceStreams({ streams: [], removed: [] });
      expect(await mine(store, patternId)).toHaveLength(3);
    });

    it('keeps the newest sign of life, and a reported silence reported, whichever write comes last', async () => {
      const patternId = unique('backup-silent');
      await store.saveAbsenceStreams({ streams: [stream(patternId, { lastSeen: at(100) })], removed: [] });
      // An older line written later (another instance, slower) does not move the stream back.
      await peer.saveAbsenceStreams({ streams: [stream(patternId, { lastSeen: at(50), reported: true })], removed: [] });
      expect(await mine(store, patternId)).toEqual([stream(patternId, { lastSeen: at(100) })]);
      // The same sign of life, reported: it turns reported, and a late unreported write does not undo it.
      await peer.saveAbsenceStreams({ streams: [stream(patternId, { lastSeen: at(100), reported: true })], removed: [] });
      await store.saveAbsenceStreams({ streams: [stream(patternId, { lastSeen: at(100), reported: false })], removed: [] });
      expect(await mine(store, patternId)).toEqual([stream(patternId, { lastSeen: at(100), reported: true })]);
      // A newer sign of life arms it again.
      await store.saveAbsenceStreams({ streams: [stream(patternId, { lastSeen: at(200) })], removed: [] });
      expect(await mine(peer, patternId)).toEqual([stream(patternId, { lastSeen: at(200) })]);
    });

    it('deletes the removed streams (only those), before writing the ones of the same call', async () => {
      const patternId = unique('backup-silent');
      const nas = stream(patternId, { host: 'nas' });
      const vault = stream(patternId, { host: 'vault' });
      const other = stream(patternId, { host: 'nas', signalId: 'other-signal' });
      await store.saveAbsenceStreams({ streams: [nas, vault, other], removed: [] });
      await store.saveAbsenceStreams({ streams: [], removed: [{ patternId, signalId: 'no-success', host: 'nas', service: 'restic-backup' }] });
      expect((await mine(peer, patternId)).map((row) => `${row.signalId}/${row.host}`).sort()).toEqual(['no-success/vault', 'other-signal/nas']);
      // Evicted, then seen again before the write: it is written, not lost.
      const back = stream(patternId, { host: 'vault', lastSeen: at(5) });
      await store.saveAbsenceStreams({ streams: [back], removed: [{ patternId, signalId: 'no-success', host: 'vault', service: 'restic-backup' }] });
      expect((await mine(peer, patternId)).find((row) => row.host === 'vault')).toEqual(back);
      // Removing a stream that is not stored is no error.
      await store.saveAbsenceStreams({ streams: [], removed: [{ patternId: unique('never'), signalId: 'x', host: 'h', service: 's' }] });
    });

    it('writes a few thousand streams in one call', async () => {
      const patternId = unique('any-silent');
      const rows = Array.from({ length: 1200 }, (_, index) => stream(patternId, { service: `svc-${index}`, lastSeen: at(index) }));
      await store.saveAbsenceStreams({ streams: rows, removed: [] });
      const stored = await mine(peer, patternId);
      expect(stored).toHaveLength(1200);
      expect(stored[0]).toEqual(rows[1199]);
    });
  });
}
