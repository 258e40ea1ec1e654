import type { ObservedEvent } from '../contracts/observed-event.js';
import type { CatalogSnapshot, CatalogSample, Pattern } from '../catalog/catalog-schema.js';
import { AbsenceSignals, type Silence } from './absence-signals.js';
import { Matcher } from './matcher.js';

/** Turns a catalog sample (a bare line or an object) into an event for the matcher. */
export function sampleToEvent(sample: CatalogSample, index = 0): ObservedEvent {
  const base = typeof sample === 'string' ? { message: sample } : sample;
  return {
    id: `sample-${index}`,
    kind: base.kind ?? (base.metric ? 'metric' : 'log'),
    source: 'sample',
    time: 0,
    host: base.host ?? 'sample-host',
    service: base.service ?? 'sample-service',
    level: base.level ?? 'error',
    message: base.message,
    labels: base.labels ?? {},
    ...(base.metric ? { metric: { ...base.metric, heldForMs: base.metric.heldForMs ?? Number.MAX_SAFE_INTEGER } } : {}),
    ...(base.kind === 'alert' ? { alertStatus: 'firing' as const } : {}),
  };
}

/**
 * The events of one sample, in order: the sample itself, then for a multi-line sample each
 * `followed_by` line on the same stream, one millisecond apart.
 */
export function sampleToEvents(sample: CatalogSample, index = 0): ObservedEvent[] {
  const first = sampleToEvent(sample, index);
  const later = typeof sample === 'string' || sample.followed_by === undefined ? [] : typeof sample.followed_by === 'string' ? [sample.followed_by] : sample.followed_by;
  return [first, ...later.map((message, offset) => ({ ...first, id: `sample-${index}-${offset + 1}`, time: offset + 1, message }))];
}

/**
 * For a pattern with `absent` signals, a sample is a sign of life: the line whose disappearance
 * the signal watches for. These are the silences it leads to once the longest `for:` has passed
 * after its last line (none when the line does not arm any of the pattern's `absent` signals).
 */
export function sampleSilences(pattern: Pattern, sample: CatalogSample, index = 0): Silence[] {
  const fors = pattern.required_signals.flatMap((signal) => (signal.absent ? [signal.absent.for] : []));
  if (fors.length === 0) return [];
  const absence = new AbsenceSignals({ patterns: [pattern] });
  const events = sampleToEvents(sample, index);
  for (const event of events) absence.observe(event);
  return absence.silences(events[events.length - 1]!.time + Math.max(...fors));
}

export interface SampleCheckFailure {
  patternId: string;
  sample: string;
  expected: 'match' | 'no_match';
  /** What the matcher found instead. */
  got: string;
}

/**
 * Runs every pattern's samples through the real matcher: `match` samples must hit the pattern,
 * `no_match` samples (near misses) must not. A multi-line sample is fed line by line to a matcher
 * that starts afresh. For an `absent` signal, a `match` sample is a sign of life that, followed by
 * silence, fires the signal, and a near miss one that does not (`sampleSilences`). Used by
 * `fish-sre catalog test` and CI.
 */
export function checkCatalogSamples(catalog: Pick<CatalogSnapshot, 'patterns'>): { checked: number; failures: SampleCheckFailure[] } {
  const matcher = new Matcher(catalog);
  const failures: SampleCheckFailure[] = [];
  let checked = 0;
  const signalsHit = (pattern: Pattern, sample: CatalogSample, index: number): string[] | undefined => {
    matcher.reset();
    let signals: string[] | undefined;
    for (const event of sampleToEvents(sample, index)) {
      const hit = matcher.match(event).find((candidate) => candidate.pattern.id === pattern.id);
      if (hit) signals = [...(signals ?? []), ...hit.signalIds];
    }
    for (const silence of sampleSilences(pattern, sample, index)) signals = [...(signals ?? []), silence.signalId];
    return signals;
  };
  for (const pattern of catalog.patterns) {
    pattern.samples.match.forEach((sample, index) => {
      checked++;
      if (!signalsHit(pattern, sample, index)) {
        failures.push({ patternId: pattern.id, sample: typeof sample === 'string' ? sample : sample.message, expected: 'match', got: 'no signal matched' });
      }
    });
    pattern.samples.no_match.forEach((sample, index) => {
      checked++;
      const signals = signalsHit(pattern, sample, index);
      if (signals) {
        failures.push({ patternId: pattern.id, sample: typeof sample === 'string' ? sample : sample.message, expected: 'no_match', got: `matched signals ${signals.join(', ')}` });
      }
    });
  }
  return { checked, failures };
}
