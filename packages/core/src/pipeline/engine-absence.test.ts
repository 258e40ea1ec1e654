import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../approval/approval-token.js';
import type { CatalogSnapshot, Pattern } from '../catalog/catalog-schema.js';
import type { AuditStore } from '../contracts/audit-store.js';
import { createLocalExecutor } from '../builtins/local-executor.js';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import { FishError, FishErrorCode } from '../errors.js';
import { logEvent, makePattern, recordingNotifier } from '../test-support/fixtures.js';
import { ManualClock } from '../util/clock.js';
import { FishEngine } from './engine.js';

const HOUR = 3_600_000;
const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

const backup = makePattern({
  id: 'backup-silent',
  title: 'Nightly backup did not report',
  required_signals: [{ id: 'no-success', absent: { service: '^restic-backup$', message: 'snapshot [0-9a-f]{8} saved', for: '25h' } }],
  fix: undefined,
  verify: undefined,
  target_host: '$event_host',
  cooldown: '1h',
  diagnosis: 'The nightly backup has not logged a saved snapshot for 25 hours: check its timer and repository.',
  samples: { match: [{ service: 'restic-backup', message: 'snapshot 3f2a9c1d saved' }] },
});
const saved = (time: number, host = 'nas') => logEvent({ host, service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', level: 'info', time });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One fish run on a store: what a restart is made of (the same store, a new engine). */
async function run(audit: AuditStore, clock: ManualClock, patterns: Pattern[] = [backup]) {
  const root = await mkdtemp(join(tmpdir(), 'fish-absence-'));
  roots.push(root);
  const catalog: CatalogSnapshot = { patterns, scriptsDir: root, loadedFrom: root, loadedAt: clock.now(), digest: patterns.map((pattern) => pattern.id).join() };
  const { notifier, sent } = recordingNotifier();
  const engine = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit,
    notifier,
    executor: createLocalExecutor({ scriptsDir: root, sandboxDir: root, hosts: ['nas'] }),
    signer: new ApprovalSigner('absence-restart-secret-0123456789abcdef'),
    publicUrl: 'https://fish.example.test/',
    clock,
    absenceCheckMs: 5,
  });
  await engine.start();
  /** Lets the timer tick a few times, then waits for what it opened. */
  const settle = async (ticks = 8) => {
    for (let tick = 0; tick < ticks; tick++) await sleep(6);
    await engine.idle();
  };
  return { engine, sent, settle, stop: () => engine.stop({ graceMs: 1000 }) };
}

describe('FishEngine: an absent signal, end to end', () => {
  it('escalates once when the nightly backup stops logging its success, decided by the engine timer on the injected clock', async () => {
    const audit = createMemoryAuditStore();
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
    const fish = await run(audit, clock);
    try {
      await fish.engine.ingest(saved(clock.now()));
      await fish.settle();
      expect(fish.sent).toEqual([]);
      clock.advance(25 * HOUR);
      for (let tries = 0; tries < 200 && fish.sent.length === 0; tries++) await sleep(5);
      await fish.engine.idle();
      expect(fish.sent).toHaveLength(1);
      expect(JSON.stringify(fish.sent[0])).toContain('The nightly backup has not logged a saved snapshot');
      const incidents = await audit.listIncidents({});
      expect(incidents.map((incident) => [incident.patternId, incident.host, incident.service])).toEqual([['backup-silent', 'nas', 'restic-backup']]);
      // Several more timer ticks: the silence was reported once.
      await fish.settle();
      expect(fish.sent).toHaveLength(1);
    } finally {
      await fish.stop();
    }
  });
});

describe('FishEngine: absent signals across a restart', () => {
  it('reports a backup that logged its success before the restart and never again, once, in the new run', async () => {
    const audit = createMemoryAuditStore();
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
    const first = await run(audit, clock);
    await first.engine.ingest(saved(clock.now()));
    await first.settle();
    await first.stop();
    expect(first.sent).toEqual([]);

    clock.advance(26 * HOUR); // the box was off through the night
    const second = await run(audit, clock);
    try {
      for (let tries = 0; tries < 200 && second.sent.length === 0; tries++) await sleep(5);
      await second.settle();
      expect(second.sent).toHaveLength(1);
      expect(JSON.stringify(second.sent[0])).toContain('The nightly backup has not logged a saved snapshot');
      const incidents = await audit.listIncidents({});
      expect(incidents.map((incident) => [incident.patternId, incident.host, incident.service])).toEqual([['backup-silent', 'nas', 'restic-backup']]);
      clock.advance(2 * HOUR); // past the cooldown: only the stream's own state keeps it quiet
      await second.settle();
      expect(second.sent).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });

  it('does not report again after a restart a silence already reported before it, and reports the next one', async () => {
    const audit = createMemoryAuditStore();
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
    const first = await run(audit, clock);
    await first.engine.ingest(saved(clock.now()));
    clock.advance(25 * HOUR);
    for (let tries = 0; tries < 200 && first.sent.length === 0; tries++) await sleep(5);
    await first.settle();
    await first.stop();
    expect(first.sent).toHaveLength(1);

    clock.advance(3 * 24 * HOUR); // far past the cooldown and the incident claim
    const second = await run(audit, clock);
    try {
      await second.settle();
      expect(second.sent).toEqual([]);
      // The backup runs again, then stops again: that is a new silence.
      await second.engine.ingest(saved(clock.now()));
      clock.advance(25 * HOUR);
      for (let tries = 0; tries < 200 && second.sent.length === 0; tries++) await sleep(5);
      await second.settle();
      expect(second.sent).toHaveLength(1);
      expect(await audit.listIncidents({})).toHaveLength(2);
    } finally {
      await second.stop();
    }
  });

  it('drops the stored streams of a pattern the catalog no longer has, so it never fires for them again', async () => {
    const audit = createMemoryAuditStore();
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
    const first = await run(audit, clock);
    await first.engine.ingest(saved(clock.now(), 'nas'));
    await first.engine.ingest(saved(clock.now(), 'vault'));
    await first.stop();
    expect((await audit.listAbsenceStreams!()).map((row) => row.host).sort()).toEqual(['nas', 'vault']);

    const plain = makePattern({ id: 'plain' });
    const second = await run(audit, clock, [plain]);
    await second.stop();
    expect(await audit.listAbsenceStreams!()).toEqual([]);

    clock.advance(26 * HOUR);
    const third = await run(audit, clock);
    try {
      await third.settle();
      expect(third.sent).toEqual([]);
    } finally {
      await third.stop();
    }
  });

  it('keeps ingesting while the store refuses the streams, and writes them at the next check once it answers', async () => {
    const memory = createMemoryAuditStore();
    let down = true;
    let refused = 0;
    const audit: AuditStore = {
      ...memory,
      async saveAbsenceStreams(changes) {
        if (down) {
          refused++;
          throw new FishError({ code: FishErrorCode.AUDIT_UNREACHABLE, message: 'audit: the database does not answer' });
        }
        return memory.saveAbsenceStreams!(changes);
      },
    };
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
    const first = await run(audit, clock);
    try {
      await first.engine.ingest(saved(clock.now()));
      await first.settle();
      expect(refused).toBeGreaterThan(1); // tried at every check, not given up
      expect(await memory.listAbsenceStreams!()).toEqual([]);
      await first.engine.ingest(saved(clock.now() + 1000, 'vault'));
      expect(first.engine.stats().events).toBe(2);
      expect(first.engine.stats().errors).toBe(0);
      down = false;
      await first.settle();
      expect((await memory.listAbsenceStreams!()).map((row) => [row.host, row.reported])).toEqual([
        ['vault', false],
        ['nas', false],
      ]);
      // The silence is still found from memory meanwhile: the failing writes changed nothing in the loop.
      clock.advance(26 * HOUR);
      for (let tries = 0; tries < 200 && first.sent.length < 2; tries++) await sleep(5);
      await first.settle();
      expect(first.sent).toHaveLength(2);
      expect((await memory.listAbsenceStreams!()).every((row) => row.reported)).toBe(true);
    } finally {
      await first.stop();
    }
  });

  it('starts and watches from its own lines when the stored streams cannot be read', async () => {
    const memory = createMemoryAuditStore();
    const audit: AuditStore = {
      ...memory,
      async listAbsenceStreams() {
        throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: 'audit: database disk image is malformed' });
      },
    };
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
    const first = await run(audit, clock);
    try {
      await first.engine.ingest(saved(clock.now()));
      clock.advance(25 * HOUR);
      for (let tries = 0; tries < 200 && first.sent.length === 0; tries++) await sleep(5);
      await first.settle();
      expect(first.sent).toHaveLength(1);
    } finally {
      await first.stop();
    }
  });
});
