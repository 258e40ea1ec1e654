import { describe, expect, it } from 'vitest';
import type { CatalogSnapshot, Pattern } from '../../catalog/catalog-schema.js';
import { logEvent, makePattern, metricEvent } from '../../test-support/fixtures.js';
import { ManualClock } from '../../util/clock.js';
import { Detection, type DetectionOptions } from './detection.js';
import { EngineCounters } from './observer.js';

const PATTERNS = [
  makePattern({
    id: 'web-down',
    required_signals: [{ id: 'line', log: { message: 'connection refused' } }],
    trigger: { count: 3, window: '1m' },
    cooldown: '10m',
    samples: { match: ['connection refused'] },
  }),
  makePattern({ id: 'oom', required_signals: [{ id: 'line', log: { message: 'out of memory' } }], cooldown: '5m', samples: { match: ['out of memory'] } }),
];

function detection(options: DetectionOptions = {}, patterns: Pattern[] = PATTERNS) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 9, 0));
  let catalog: CatalogSnapshot = { patterns, scriptsDir: '/x', loadedFrom: '/x', loadedAt: 0, digest: 'a' };
  const counters = new EngineCounters();
  const stage = new Detection({ clock, catalog: () => catalog, counters }, options);
  return { stage, clock, counters, reload: (next: Pattern[]) => (catalog = { ...catalog, patterns: next, digest: 'b' }) };
}

describe('detection', () => {
  it('opens an incident once the trigger count is reached within the window, with its evidence', () => {
    const { stage, clock } = detection();
    const at = clock.now();
    expect(stage.detect(logEvent({ message: 'connection refused 1', time: at }))).toBeUndefined();
    expect(stage.detect(logEvent({ message: 'connection refused 2', time: at + 1000 }))).toBeUndefined();
    const incident = stage.detect(logEvent({ message: 'connection refused 3', time: at + 2000 }));
    expect(incident).toMatchObject({ host: 'penny', service: 'homepage', firstSeen: at + 2000, cooldownUntil: at + 2000 + 600_000 });
    expect(incident!.candidates.map((candidate) => candidate.pattern.id)).toEqual(['web-down']);
    expect(incident!.evidence).toHaveLength(3);
    expect(incident!.evidence[2]).toContain('[error] connection refused 3');
  });

  it('drops events that slid out of the window, and their evidence', () => {
    const { stage, clock } = detection();
    const at = clock.now();
    stage.detect(logEvent({ message: 'connection refused old', time: at }));
    stage.detect(logEvent({ message: 'connection refused a', time: at + 61_000 }));
    expect(stage.detect(logEvent({ message: 'connection refused b', time: at + 62_000 }))).toBeUndefined();
    const incident = stage.detect(logEvent({ message: 'connection refused c', time: at + 63_000 }));
    expect(incident?.evidence.join('\n')).not.toContain('old');
  });

  it('ignores a duplicate event id and counts it', () => {
    const { stage, counters } = detection();
    const event = logEvent({ message: 'out of memory' });
    expect(stage.detect(event)).toBeDefined();
    expect(stage.detect({ ...event })).toBeUndefined();
    expect(counters.get('duplicates')).toBe(1);
  });

  it('counts events older than maxEvidenceAgeMs as stale and never opens an incident from them', () => {
    const { stage, clock, counters } = detection({ maxEvidenceAgeMs: 60_000 });
    expect(stage.detect(logEvent({ message: 'out of memory', time: clock.now() - 61_000 }))).toBeUndefined();
    expect(counters.get('stale')).toBe(1);
    expect(stage.detect(logEvent({ message: 'out of memory', time: clock.now() - 59_000 }))).toBeDefined();
  });

  it('suppresses the same fingerprint during its cooldown, and opens it again after', () => {
    const { stage, clock, counters } = detection();
    const at = clock.now();
    expect(stage.detect(logEvent({ message: 'out of memory', time: at }))).toBeDefined();
    expect(stage.detect(logEvent({ message: 'out of memory', time: at + 299_000 }))).toBeUndefined();
    expect(counters.get('suppressedByCooldown')).toBe(1);
    expect(stage.detect(logEvent({ message: 'out of memory', time: at + 300_001 }))).toBeDefined();
    // Another host is another fingerprint.
    expect(stage.detect(logEvent({ message: 'out of memory', time: at + 1, host: 'leonard' }))).toBeDefined();
  });

  it('rate-limits incidents per host and service', () => {
    const patterns = [makePattern({ id: 'flood', required_signals: [{ id: 'line', log: { message: 'flood' } }], cooldown: 0, samples: { match: ['flood'] } })];
    const { stage, clock, counters } = detection({ rateLimit: { burst: 2, perMinute: 1 } }, patterns);
    const opened = Array.from({ length: 5 }, (_, i) => stage.detect(logEvent({ message: 'flood', time: clock.now() + i }))).filter(Boolean);
    expect(opened).toHaveLength(2);
    expect(counters.get('rateLimited')).toBe(3);
    expect(stage.detect(logEvent({ message: 'flood', time: clock.now() + 60_010 }))).toBeDefined();
  });

  it('opens an UNKNOWN incident from severe unmatched events only', () => {
    const { stage, clock } = detection({ unknown: { count: 2, windowMs: 60_000, cooldownMs: 1000 } });
    expect(stage.detect(logEvent({ message: 'segfault', service: 'mystery', time: clock.now() }))).toBeUndefined();
    expect(stage.detect(logEvent({ message: 'just info', service: 'mystery', level: 'info', time: clock.now() }))).toBeUndefined();
    const incident = stage.detect(logEvent({ message: 'segfault again', service: 'mystery', time: clock.now() + 1 }));
    expect(incident).toMatchObject({ candidates: [], service: 'mystery', cooldownUntil: clock.now() + 1001 });
    expect(incident!.evidence).toHaveLength(2);
  });

  it('skips the window work of an UNKNOWN flood in cooldown, yet opens the next incident with the lines of its last window', () => {
    const minute = 60_000;
    const { stage, clock, counters } = detection({ unknown: { count: 3, windowMs: 5 * minute, cooldownMs: 60 * minute }, rateLimit: { burst: 100, perMinute: 100 } });
    const at = clock.now();
    const line = (index: number) => logEvent({ id: `flood-${index}`, message: `pool exhausted line ${index}`, service: 'mystery', time: at + index * minute });
    const opened: Array<{ index: number; evidence: string[] }> = [];
    for (let index = 0; index <= 70; index++) {
      const incident = stage.detect(line(index));
      if (incident) opened.push({ index, evidence: incident.evidence });
    }
    // Lines 0-2 open the first; its cooldown ends at minute 62; the line at minute 62 opens the next,
    // with the lines of the window (57, 62], which arrived while the first was cooling down.
    expect(opened.map((incident) => incident.index)).toEqual([2, 62]);
    expect(opened[1]!.evidence.map((text) => text.replace(/^.* line /, ''))).toEqual(['58', '59', '60', '61', '62']);
    // Every line of the stream while an incident of it cools down: 3-61 and 63-70.
    expect(counters.get('suppressedByCooldown')).toBe(67);
  });

  it('refuses a level that is not one of the six, even one Object.prototype has', () => {
    const { stage } = detection();
    for (const level of ['constructor', '__proto__', 'toString', 'ERROR']) {
      expect(() => stage.detect(logEvent({ message: 'out of memory', level: level as never }))).toThrow(/not a well-formed ObservedEvent/);
    }
  });

  it('redacts the evidence of an UNKNOWN incident when it opens it, the same as redacting every line at once', () => {
    // Unmatched severe lines are kept raw until an incident is opened (redacting each one was the
    // hot path's main cost): what leaves detection must still be redacted, cut after redaction.
    const { stage, clock } = detection();
    const at = clock.now();
    const key = `-----BEGIN OPENSSH PRIVATE KEY-----\n${'b3BlbnNzaC1rZXktdjEAAAAA'.repeat(60)}\n-----END OPENSSH PRIVATE KEY-----`;
    const lines = [
      'login failed password=hunter2-pa55 for admin',
      `${'x'.repeat(990)} api_key=abcdefghijklmnop0123 straddles the cut`,
      `restore failed: ${key} then Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz`,
    ];
    let incident;
    for (const [index, message] of lines.entries()) incident = stage.detect(logEvent({ message, service: 'mystery', level: 'critical', time: at + index }));
    expect(incident?.candidates).toEqual([]);
    const evidence = incident!.evidence.join('\n');
    for (const secret of ['hunter2-pa55', 'abcdefghijklmnop0123', 'b3BlbnNzaC1rZXktdjEAAAAA', 'eyJhbGciOiJIUzI1NiJ9', 'c2lnbmF0dXJlMTIz']) expect(evidence).not.toContain(secret);
    expect(incident!.evidence[0]).toMatch(/\[critical\] login failed password=\[REDACTED\] for admin$/);
    expect(incident!.evidence[2]).toContain('[REDACTED PRIVATE KEY] then Authorization: Bearer [REDACTED]');
    expect(incident!.evidence.every((line) => line.length <= 1000)).toBe(true);
  });

  it('compares metric observations through the metric signals; `for` is the duration the source reports', () => {
    const patterns = [
      makePattern({
        id: 'disk',
        required_signals: [{ id: 'used', metric: { query: 'disk_used', op: '>', threshold: 90, for: '2m' } }],
        samples: { match: [{ message: 'd', metric: { name: 'disk_used', value: 95 } }] },
      }),
    ];
    const { stage, clock } = detection({}, patterns);
    const at = clock.now();
    const held = (heldForMs: number, time: number) => ({ ...metricEvent('disk_used', 95, { time }), metric: { name: 'disk_used', value: 95, heldForMs } });
    expect(stage.detect(held(60_000, at))).toBeUndefined();
    expect(stage.detect(held(120_000, at + 1))?.candidates[0]?.pattern.id).toBe('disk');
  });

  it('uses a reloaded catalog for the next event', () => {
    const { stage, reload } = detection();
    expect(stage.detect(logEvent({ message: 'disk on fire' }))).toBeUndefined();
    reload([makePattern({ id: 'fire', required_signals: [{ id: 'line', log: { message: 'disk on fire' } }], samples: { match: ['disk on fire'] } })]);
    expect(stage.detect(logEvent({ message: 'disk on fire' }))?.candidates[0]?.pattern.id).toBe('fire');
  });

  it('throws for a malformed event (the facade counts it) and keeps working', () => {
    const { stage } = detection();
    expect(() => stage.detect({ id: 'x', kind: 'log' } as never)).toThrow(/not a well-formed ObservedEvent/);
    expect(stage.detect(logEvent({ message: 'out of memory' }))).toBeDefined();
  });

  it('is synchronous: detect returns a value, never a promise', () => {
    const { stage } = detection();
    const result = stage.detect(logEvent({ message: 'out of memory' }));
    expect(result).not.toBeInstanceOf(Promise);
  });
});
