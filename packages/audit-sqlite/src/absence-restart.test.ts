import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalSigner, FishEngine, ManualClock, loadCatalog, type CatalogSnapshot, type Notifier, type NotifierMessage, type ObservedEvent } from '@fish-sre/core';
import { createSqliteAuditStore } from './index.js';

/*
 * The catalog's restic-backup-silent pattern on a real SQLite file: the engine sees a nightly
 * backup finish, fish is stopped (the box rebooted, the process died), and starts again on the
 * same file with the clock past the signal's 25 hours.
 */

const root = mkdtempSync(join(tmpdir(), 'fish-absence-sqlite-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const HOUR = 3_600_000;
let catalog: CatalogSnapshot;
beforeAll(async () => {
  catalog = await loadCatalog(fileURLToPath(new URL('../../../catalog', import.meta.url)), { checkScripts: false });
});

let sequence = 0;
/** What journald hands on for the restic-backup unit when `restic backup` finishes (the pattern's own sample). */
const finished = (time: number): ObservedEvent => ({
  id: `restic-${++sequence}`,
  kind: 'log',
  source: 'loki',
  time,
  host: 'nas',
  service: 'restic-backup',
  level: 'info',
  message: 'Apr 20 03:14:07 nas restic[22118]: snapshot 3f2a9c1d saved',
  labels: {},
});

/** One run of fish on the file: a new store and a new engine, as after a restart. */
async function run(path: string, clock: ManualClock, patterns = catalog.patterns) {
  const audit = createSqliteAuditStore({ path });
  await audit.init();
  const sent: NotifierMessage[] = [];
  const notifier: Notifier = {
    specificationVersion: 'v1',
    name: 'phone',
    async propose() {
      throw new Error('restic-backup-silent has no fix to propose');
    },
    async notify(message) {
      sent.push(message);
      return { id: `n${sent.length}`, channel: 'phone' };
    },
  };
  const engine = new FishEngine({
    catalog: () => ({ ...catalog, patterns }),
    sources: [],
    audit,
    notifier,
    executor: { specificationVersion: 'v1', name: 'none', hosts: () => ['nas'], run: async () => ({ exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false }) },
    signer: new ApprovalSigner('absence-sqlite-secret-0123456789abcdef'),
    publicUrl: 'https://fish.test',
    clock,
    absenceCheckMs: 5,
    outbox: { pollMs: 10 },
  });
  await engine.start();
  /** Until `count` messages came (bounded), then a few more checks: nothing more comes. */
  const waitFor = async (count: number) => {
    for (let attempt = 0; attempt < 300 && sent.length < count; attempt++) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 60));
    await engine.idle();
  };
  const stop = async () => {
    await engine.stop({ graceMs: 1000 });
    await audit.close();
  };
  return { engine, audit, sent, waitFor, stop };
}

describe('restic-backup-silent across a restart, on a real SQLite file', () => {
  it('reports the backup that finished before the restart and never again, once; not again after a second restart', async () => {
    const path = join(root, 'reported.sqlite');
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 1, 14, 7));
    const first = await run(path, clock);
    await first.engine.ingest(finished(clock.now()));
    await first.waitFor(0);
    expect(first.sent).toEqual([]);
    await first.stop();

    clock.advance(30 * HOUR);
    const second = await run(path, clock);
    await second.waitFor(1);
    expect(second.sent).toHaveLength(1);
    expect(JSON.stringify(second.sent[0])).toContain('restic backup has not reported a finished snapshot');
    expect((await second.audit.listIncidents()).map((incident) => [incident.patternId, incident.host, incident.service])).toEqual([['restic-backup-silent', 'nas', 'restic-backup']]);
    await second.stop();

    clock.advance(2 * 24 * HOUR); // past the 12 h cooldown and its claim: only the stream's state speaks
    const third = await run(path, clock);
    await third.waitFor(0);
    expect(third.sent).toEqual([]);
    await third.stop();
  });

  it('forgets the stored streams when the pattern leaves the catalog', async () => {
    const path = join(root, 'dropped.sqlite');
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 1, 14, 7));
    const first = await run(path, clock);
    await first.engine.ingest(finished(clock.now()));
    await first.stop();

    const without = catalog.patterns.filter((pattern) => pattern.id !== 'restic-backup-silent');
    const second = await run(path, clock, without);
    expect(await second.audit.listAbsenceStreams()).toEqual([]);
    await second.stop();

    clock.advance(30 * HOUR);
    const third = await run(path, clock);
    await third.waitFor(0);
    expect(third.sent).toEqual([]);
    await third.stop();
  });
});
