import { describe, expect, it } from 'vitest';
import type { CatalogSnapshot, Pattern } from '../../catalog/catalog-schema.js';
import { logEvent, makePattern } from '../../test-support/fixtures.js';
import { ManualClock } from '../../util/clock.js';
import { Detection } from './detection.js';
import { EngineCounters } from './observer.js';

const HOUR = 3_600_000;

const BACKUP = makePattern({
  id: 'backup-silent',
  required_signals: [{ id: 'no-success', absent: { service: '^restic-backup$', message: 'snapshot [0-9a-f]{8} saved', for: '25h' } }],
  fix: undefined,
  verify: undefined,
  diagnosis: 'check the backup',
  target_host: '$event_host',
  cooldown: '1h',
  samples: { match: [{ service: 'restic-backup', message: 'snapshot 3f2a9c1d saved' }] },
});

function detection(patterns: Pattern[] = [BACKUP]) {
  const clock = new ManualClock(Date.UTC(2026, 3, 20, 3, 0));
  let catalog: CatalogSnapshot = { patterns, scriptsDir: '/x', loadedFrom: '/x', loadedAt: 0, digest: 'a' };
  const counters = new EngineCounters();
  const stage = new Detection({ clock, catalog: () => catalog, counters }, { absenceCheckMs: 5 });
  return { stage, clock, counters, reload: (next: Pattern[]) => (catalog = { ...catalog, patterns: next, digest: 'b' }) };
}

describe('detection: absent signals', () => {
  it('opens one incident when a stream that logged its success stays silent for `for:`, through the same trigger, cooldown and evidence', () => {
    const { stage, clock, counters } = detection();
    const success = logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: clock.now() });
    expect(stage.detect(success)).toBeUndefined();
    clock.advance(25 * HOUR - 1);
    expect(stage.silences()).toEqual([]);
    clock.advance(1);
    const [silence, ...more] = stage.silences();
    expect(more).toEqual([]);
    const incident = stage.detect(silence!);
    expect(incident).toMatchObject({ host: 'nas', service: 'restic-backup', firstSeen: clock.now(), cooldownUntil: clock.now() + HOUR });
    expect(incident!.candidates).toMatchObject([{ pattern: { id: 'backup-silent' }, confidence: 1, signalIds: ['no-success'] }]);
    expect(incident!.evidence.join('\n')).toContain('no matching line from restic-backup on nas since 2026-04-20T03:00:00.000Z');
    expect(counters.get('matched')).toBe(1);
    // Reported once: the next checks find nothing until the job logs again.
    clock.advance(HOUR);
    expect(stage.silences()).toEqual([]);
  });

  it('does not count its own silence event as a sign of life, and a failure line never arms the signal', () => {
    const { stage, clock } = detection();
    stage.detect(logEvent({ host: 'nas', service: 'restic-backup', message: 'Fatal: unable to open repository', time: clock.now() }));
    clock.advance(30 * HOUR);
    expect(stage.silences()).toEqual([]);
    stage.detect(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: clock.now() }));
    clock.advance(25 * HOUR);
    const [silence] = stage.silences();
    stage.detect(silence!);
    clock.advance(25 * HOUR);
    expect(stage.silences()).toEqual([]);
  });

  it('keeps a stream silent across a catalog reload, measured against the new `for:`', () => {
    const { stage, clock, reload } = detection();
    stage.detect(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: clock.now() }));
    clock.advance(3 * HOUR);
    reload([makePattern({ ...BACKUP, required_signals: [{ id: 'no-success', absent: { service: '^restic-backup$', message: 'snapshot [0-9a-f]{8} saved', for: '2h' } }] })]);
    expect(stage.silences().map((event) => event.host)).toEqual(['nas']);
  });

  it('hands silences to the engine from its timer until aborted', async () => {
    const { stage, clock } = detection();
    stage.detect(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: clock.now() }));
    clock.advance(26 * HOUR);
    const handed: string[] = [];
    const abort = new AbortController();
    const loop = stage.watchSilence(abort.signal, (event) => {
      handed.push(event.message);
      abort.abort();
    });
    for (let tries = 0; tries < 200 && handed.length === 0; tries++) await new Promise((resolve) => setTimeout(resolve, 5));
    await loop;
    expect(handed).toHaveLength(1);
    expect(handed[0]).toContain('restic-backup on nas');
  });
});
