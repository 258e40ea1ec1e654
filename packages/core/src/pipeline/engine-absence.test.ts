import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../approval/approval-token.js';
import type { CatalogSnapshot } from '../catalog/catalog-schema.js';
import { createLocalExecutor } from '../builtins/local-executor.js';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import { logEvent, makePattern, recordingNotifier } from '../test-support/fixtures.js';
import { ManualClock } from '../util/clock.js';
import { FishEngine } from './engine.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

describe('FishEngine: an absent signal, end to end', () => {
  it('escalates once when the nightly backup stops logging its success, decided by the engine timer on the injected clock', async () => {
    const root = await mkdtemp(join(tmpdir(), 'fish-absence-'));
    roots.push(root);
    const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
    const pattern = makePattern({
      id: 'backup-silent',
      title: 'Nightly backup did not report',
      required_signals: [{ id: 'no-success', absent: { service: '^restic-backup$', message: 'snapshot [0-9a-f]{8} saved', for: '25h' } }],
      fix: undefined,
      verify: undefined,
      target_host: '$event_host',
      diagnosis: 'The nightly backup has not logged a saved snapshot for 25 hours: check its timer and repository.',
      samples: { match: [{ service: 'restic-backup', message: 'snapshot 3f2a9c1d saved' }] },
    });
    const catalog: CatalogSnapshot = { patterns: [pattern], scriptsDir: root, loadedFrom: root, loadedAt: clock.now(), digest: 'x' };
    const { notifier, sent } = recordingNotifier();
    const audit = createMemoryAuditStore();
    const engine = new FishEngine({
      catalog: () => catalog,
      sources: [],
      audit,
      notifier,
      executor: createLocalExecutor({ scriptsDir: root, sandboxDir: root, hosts: ['nas'] }),
      signer: new ApprovalSigner('absence-test-secret-0123456789abcdef'),
      publicUrl: 'https://fish.example.test/',
      clock,
      absenceCheckMs: 10,
    });
    await engine.start();
    try {
      await engine.ingest(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: clock.now() }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await engine.idle();
      expect(sent).toEqual([]);
      clock.advance(25 * 3_600_000);
      for (let tries = 0; tries < 200 && sent.length === 0; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
      await engine.idle();
      expect(sent).toHaveLength(1);
      expect(JSON.stringify(sent[0])).toContain('The nightly backup has not logged a saved snapshot');
      const incidents = await audit.listIncidents({});
      expect(incidents.map((incident) => [incident.patternId, incident.host, incident.service])).toEqual([['backup-silent', 'nas', 'restic-backup']]);
      // Several more timer ticks: the silence was reported once.
      await new Promise((resolve) => setTimeout(resolve, 60));
      await engine.idle();
      expect(sent).toHaveLength(1);
    } finally {
      await engine.stop({ graceMs: 1000 });
    }
  });
});
