import { describe, expect, it } from 'vitest';
import { PatternSchema } from '../catalog/catalog-schema.js';
import { logEvent, makePattern, metricEvent } from '../test-support/fixtures.js';
import { AbsenceSignals } from './absence-signals.js';
import { checkCatalogSamples, sampleSilences } from './catalog-samples.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 3, 20, 3, 0);

const backup = makePattern({
  id: 'backup-silent',
  required_signals: [{ id: 'no-success', absent: { service: '^restic-backup$', message: 'snapshot [0-9a-f]{8} saved', for: '25h' } }],
  fix: undefined,
  verify: undefined,
  diagnosis: 'check the backup',
  samples: { match: [{ service: 'restic-backup', message: 'snapshot 3f2a9c1d saved' }], no_match: [{ service: 'restic-backup', message: 'Fatal: unable to open repository' }] },
});
const anyLine = makePattern({
  id: 'stack-silent',
  required_signals: [{ id: 'quiet', absent: { service: 'homepage', host: '^penny$', for: '10m' } }],
  samples: { match: [{ service: 'homepage', host: 'penny', message: 'GET / 200' }] },
});

const ids = (silences: ReturnType<AbsenceSignals['silences']>) => silences.map((silence) => `${silence.pattern.id}/${silence.event.host}/${silence.event.service}`);

describe('absent signals', () => {
  it('fire once a stream that showed a sign of life is silent for `for`, once per silence', () => {
    const absence = new AbsenceSignals({ patterns: [backup] });
    absence.observe(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: T0 }));
    expect(absence.silences(T0 + 25 * HOUR - 1)).toEqual([]);
    const [silence, ...more] = absence.silences(T0 + 25 * HOUR);
    expect(more).toEqual([]);
    expect(silence).toMatchObject({ signalId: 'no-success', pattern: { id: 'backup-silent' } });
    expect(silence!.event).toMatchObject({ kind: 'log', source: 'absence', time: T0 + 25 * HOUR, host: 'nas', service: 'restic-backup', level: 'error', labels: { fish_signal: 'absent' } });
    expect(silence!.event.message).toBe('no matching line from restic-backup on nas since 2026-04-20T03:00:00.000Z (25h; signal no-success expects one within 25h)');
    // Reported: quiet from now on, however long the silence lasts.
    expect(absence.silences(T0 + 50 * HOUR)).toEqual([]);
    // The next success re-arms it; the next silence is reported again.
    absence.observe(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 77aa01bc saved', time: T0 + 51 * HOUR }));
    expect(absence.silences(T0 + 75 * HOUR)).toEqual([]);
    expect(ids(absence.silences(T0 + 76 * HOUR))).toEqual(['backup-silent/nas/restic-backup']);
  });

  it('scope the streams by service and host without regard to case, as log signals do', () => {
    const absence = new AbsenceSignals({ patterns: [backup, anyLine] });
    absence.observe(logEvent({ host: 'NAS', service: 'Restic-Backup', message: 'snapshot 3f2a9c1d saved', time: T0 }));
    absence.observe(logEvent({ host: 'Penny', service: 'Homepage', message: 'GET / 200', time: T0 }));
    expect(ids(absence.silences(T0 + 25 * HOUR)).sort()).toEqual(['backup-silent/NAS/Restic-Backup', 'stack-silent/Penny/Homepage']);
  });

  it('never fire for a stream that never logged, nor for lines out of scope or not matching the sign of life', () => {
    const absence = new AbsenceSignals({ patterns: [backup, anyLine] });
    absence.observe(logEvent({ host: 'nas', service: 'restic-backup', message: 'Fatal: unable to open repository', time: T0 }));
    absence.observe(logEvent({ host: 'nas', service: 'restic-backup-2', message: 'snapshot 3f2a9c1d saved', time: T0 }));
    absence.observe(logEvent({ host: 'lancelot', service: 'homepage', message: 'GET / 200', time: T0 }));
    absence.observe(metricEvent('homepage_up', 1, { host: 'penny', service: 'homepage', time: T0 }));
    expect(absence.silences(T0 + 100 * HOUR)).toEqual([]);
    expect(absence.size).toBe(0);
  });

  it('keep one clock per stream (host and service): a silent host fires while a busy one does not', () => {
    const absence = new AbsenceSignals({ patterns: [backup] });
    for (const host of ['nas', 'pve']) absence.observe(logEvent({ host, service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: T0 }));
    absence.observe(logEvent({ host: 'pve', service: 'restic-backup', message: 'snapshot 9c9c9c9c saved', time: T0 + 24 * HOUR }));
    expect(ids(absence.silences(T0 + 26 * HOUR))).toEqual(['backup-silent/nas/restic-backup']);
  });

  it('ignore a late, older line: the last sign of life is the newest one seen', () => {
    const absence = new AbsenceSignals({ patterns: [anyLine] });
    absence.observe(logEvent({ host: 'penny', service: 'homepage', message: 'GET / 200', time: T0 + 5 * 60_000 }));
    absence.observe(logEvent({ host: 'penny', service: 'homepage', message: 'GET /old 200', time: T0 }));
    expect(absence.silences(T0 + 14 * 60_000)).toEqual([]);
    expect(ids(absence.silences(T0 + 15 * 60_000))).toEqual(['stack-silent/penny/homepage']);
  });

  it('keep a stream silent for a day across a catalog reload that still has the signal, and forget one it lost', () => {
    const before = new AbsenceSignals({ patterns: [backup, anyLine] });
    before.observe(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: T0 }));
    before.observe(logEvent({ host: 'penny', service: 'homepage', message: 'GET / 200', time: T0 }));
    const after = new AbsenceSignals({ patterns: [backup] }).carryOver(before);
    expect(ids(after.silences(T0 + 25 * HOUR))).toEqual(['backup-silent/nas/restic-backup']);
  });

  it('remember a bounded number of streams, forgetting the one silent the longest', () => {
    const silent = makePattern({ id: 'any-silent', required_signals: [{ id: 'quiet', absent: { service: '.', for: '10m' } }], samples: { match: ['x'] } });
    const bounded = new AbsenceSignals({ patterns: [silent] }, { maxStreams: 2 });
    for (const [index, service] of ['a', 'b', 'c'].entries()) bounded.observe(logEvent({ host: 'penny', service, message: 'up', time: T0 + index }));
    expect(bounded.size).toBe(2);
    expect(ids(bounded.silences(T0 + HOUR))).toEqual(['any-silent/penny/b', 'any-silent/penny/c']);
    expect(bounded.empty).toBe(false);
    expect(new AbsenceSignals({ patterns: [makePattern({ id: 'plain' })] }).empty).toBe(true);
  });

  it('are validated: a duration with its unit, longer than 0; exactly one signal kind', () => {
    const base = { id: 'silent-x', title: 'x', target_host: 'penny', diagnosis: 'x', samples: { match: ['x'] } };
    expect(PatternSchema.safeParse({ ...base, required_signals: [{ id: 's', absent: { service: 'a', for: '0s' } }] }).error?.issues[0]?.message).toMatch(/longer than 0/);
    expect(PatternSchema.safeParse({ ...base, required_signals: [{ id: 's', absent: { service: 'a', for: '1h' }, log: { message: 'x' } }] }).error?.issues[0]?.message).toMatch(
      /exactly one of log, metric, alert or absent/,
    );
    expect(PatternSchema.safeParse({ ...base, required_signals: [{ id: 's', absent: { for: '1h' } }] }).success).toBe(false);
  });

  it('samples of an absent signal: a sign of life fires it after `for`, a near miss does not (catalog test)', () => {
    expect(sampleSilences(backup, backup.samples.match[0]!).map((silence) => silence.signalId)).toEqual(['no-success']);
    expect(sampleSilences(backup, backup.samples.no_match[0]!)).toEqual([]);
    expect(checkCatalogSamples({ patterns: [backup, anyLine] }).failures).toEqual([]);
    const wrong = { ...backup, samples: { match: backup.samples.no_match, no_match: backup.samples.match } };
    expect(checkCatalogSamples({ patterns: [wrong] }).failures.map((failure) => failure.expected)).toEqual(['match', 'no_match']);
  });

  it('hand over only what changed since the last write, and keep it pending until the write is committed', () => {
    const absence = new AbsenceSignals({ patterns: [backup] });
    expect(absence.pendingChanges()).toBeUndefined();
    absence.observe(logEvent({ host: 'nas', service: 'restic-backup', message: 'snapshot 3f2a9c1d saved', time: T0 }));
    const failed = absence.pendingChanges();
    expect(failed?.changes).toEqual({
      streams: [{ patternId: 'backup-silent', signalId: 'no-success', host: 'nas', service: 'restic-backup', lastSeen: new Date(T0).toISOString(), reported: false }],
      removed: [],
    });
    // The write failed (no commit): the next try sends the same again.
    const written = absence.pendingChanges();
    expect(written?.changes).toEqual(failed?.changes);
    written?.commit();
    expect(absence.pendingChanges()).toBeUndefined();
    absence.silences(T0 + 25 * HOUR);
    expect(absence.pendingChanges()?.changes.streams.map((stream) => stream.reported)).toEqual([true]);
  });

  it('restore what a previous run stored: a stored silence fires once, a reported one not, a lost signal or scope is deleted', () => {
    const stored = (host: string, reported: boolean, patternId = 'backup-silent', service = 'restic-backup') => ({
      patternId,
      signalId: 'no-success',
      host,
      service,
      lastSeen: new Date(T0).toISOString(),
      reported,
    });
    const absence = new AbsenceSignals({ patterns: [backup] });
    absence.restore([
      stored('nas', false),
      stored('vault', true),
      stored('nas', false, 'gone-pattern'),
      stored('nas', false, 'backup-silent', 'borg-backup'),
      { ...stored('bad', false), lastSeen: 'yesterday' },
    ]);
    expect(absence.size).toBe(2);
    expect(absence.pendingChanges()?.changes.streams).toEqual([]); // restored rows are already stored
    expect(absence.pendingChanges()?.changes.removed.map((key) => `${key.patternId}/${key.host}/${key.service}`)).toEqual([
      'gone-pattern/nas/restic-backup',
      'backup-silent/nas/borg-backup',
      'backup-silent/bad/restic-backup',
    ]);
    expect(ids(absence.silences(T0 + 25 * HOUR))).toEqual(['backup-silent/nas/restic-backup']);
    expect(ids(absence.silences(T0 + 50 * HOUR))).toEqual([]);
  });

  it('restore at most their cap of streams, the most recent ones, and delete the rows of those they forget', () => {
    const silent = makePattern({ id: 'any-silent', required_signals: [{ id: 'quiet', absent: { service: '.', for: '10m' } }], samples: { match: ['x'] } });
    const bounded = new AbsenceSignals({ patterns: [silent] }, { maxStreams: 2 });
    const row = (service: string, offset: number) => ({ patternId: 'any-silent', signalId: 'quiet', host: 'penny', service, lastSeen: new Date(T0 + offset).toISOString(), reported: false });
    bounded.restore([row('c', 2), row('a', 0), row('b', 1)]);
    expect(ids(bounded.silences(T0 + HOUR))).toEqual(['any-silent/penny/b', 'any-silent/penny/c']);
    expect(bounded.pendingChanges()?.changes.removed.map((key) => key.service)).toEqual(['a']);
    bounded.observe(logEvent({ host: 'penny', service: 'd', message: 'up', time: T0 + 3 }));
    expect(bounded.pendingChanges()?.changes.removed.map((key) => key.service)).toEqual(['a', 'b']);
  });
});
