import type { ObservedEvent } from '../contracts/observed-event.js';
import type { Catalog, CatalogSample, Pattern, Signal } from '../catalog/catalog-schema.js';

/** Which of a pattern's required signals one event satisfies. */
export interface PatternHit {
  pattern: Pattern;
  /** Ids of the pattern's required signals this event matched (at least one). */
  signalIds: string[];
}

type Predicate = (event: ObservedEvent) => boolean;

interface CompiledPattern {
  pattern: Pattern;
  signals: Array<{ id: string; test: Predicate }>;
}

const COMPARATORS: Record<string, (value: number, threshold: number) => boolean> = {
  '>': (value, threshold) => value > threshold,
  '>=': (value, threshold) => value >= threshold,
  '<': (value, threshold) => value < threshold,
  '<=': (value, threshold) => value <= threshold,
  '==': (value, threshold) => value === threshold,
  '!=': (value, threshold) => value !== threshold,
};

function compileLabels(labels: Record<string, string>): Array<[string, RegExp]> {
  return Object.entries(labels).map(([name, pattern]) => [name, new RegExp(pattern, 'u')]);
}

function labelsMatch(event: ObservedEvent, matchers: Array<[string, RegExp]>): boolean {
  for (const [name, regex] of matchers) {
    const value = event.labels[name];
    if (value === undefined || !regex.test(value)) return false;
  }
  return true;
}

function compileSignal(signal: Signal): Predicate {
  if (signal.log) {
    const log = signal.log;
    const message = new RegExp(log.message, log.ignore_case ? 'iu' : 'u');
    const labels = compileLabels(log.labels);
    const levels = log.level ? new Set(log.level) : undefined;
    const service = log.service ? new RegExp(log.service, 'u') : undefined;
    const host = log.host ? new RegExp(log.host, 'u') : undefined;
    // Cheapest checks first: the message regex is the expensive one on a hot path.
    return (event) =>
      event.kind === 'log' &&
      (levels === undefined || levels.has(event.level)) &&
      (service === undefined || service.test(event.service)) &&
      (host === undefined || host.test(event.host)) &&
      (labels.length === 0 || labelsMatch(event, labels)) &&
      message.test(event.message);
  }
  if (signal.metric) {
    const metric = signal.metric;
    const compare = COMPARATORS[metric.op]!;
    return (event) =>
      event.kind === 'metric' && event.metric !== undefined && event.metric.name === metric.query && compare(event.metric.value, metric.threshold);
  }
  const alert = signal.alert!;
  const labels = compileLabels(alert.labels);
  return (event) =>
    event.kind === 'alert' && event.alertStatus !== 'resolved' && event.labels['alertname'] === alert.alertname && labelsMatch(event, labels);
}

/**
 * The deterministic matcher: the catalog compiled once into predicates. It decides which
 * patterns an event is evidence for. No LLM involved, no text from the event is ever executed.
 */
export class Matcher {
  private readonly compiled: CompiledPattern[];

  constructor(readonly catalog: Pick<Catalog, 'patterns'>) {
    this.compiled = catalog.patterns.map((pattern) => ({
      pattern,
      signals: pattern.required_signals.map((signal) => ({ id: signal.id, test: compileSignal(signal) })),
    }));
  }

  /** Every pattern for which this event matches at least one required signal. */
  match(event: ObservedEvent): PatternHit[] {
    let hits: PatternHit[] | undefined;
    for (const { pattern, signals } of this.compiled) {
      let signalIds: string[] | undefined;
      for (const signal of signals) {
        if (signal.test(event)) (signalIds ??= []).push(signal.id);
      }
      if (signalIds) (hits ??= []).push({ pattern, signalIds });
    }
    return hits ?? [];
  }

  /** Confidence of a pattern given the set of its signal ids seen: matched / required. */
  static confidence(pattern: Pattern, seenSignalIds: Iterable<string>): number {
    const seen = new Set(seenSignalIds);
    const matched = pattern.required_signals.filter((signal) => seen.has(signal.id)).length;
    return matched / pattern.required_signals.length;
  }
}

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
    ...(base.metric ? { metric: base.metric } : {}),
    ...(base.kind === 'alert' ? { alertStatus: 'firing' as const } : {}),
  };
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
 * `no_match` samples (near misses) must not. Used by `fish-sre catalog test` and CI.
 */
export function checkCatalogSamples(catalog: Pick<Catalog, 'patterns'>): { checked: number; failures: SampleCheckFailure[] } {
  const matcher = new Matcher(catalog);
  const failures: SampleCheckFailure[] = [];
  let checked = 0;
  for (const pattern of catalog.patterns) {
    pattern.samples.match.forEach((sample, index) => {
      checked++;
      const hit = matcher.match(sampleToEvent(sample, index)).find((candidate) => candidate.pattern.id === pattern.id);
      if (!hit) {
        failures.push({ patternId: pattern.id, sample: typeof sample === 'string' ? sample : sample.message, expected: 'match', got: 'no signal matched' });
      }
    });
    pattern.samples.no_match.forEach((sample, index) => {
      checked++;
      const hit = matcher.match(sampleToEvent(sample, index)).find((candidate) => candidate.pattern.id === pattern.id);
      if (hit) {
        failures.push({ patternId: pattern.id, sample: typeof sample === 'string' ? sample : sample.message, expected: 'no_match', got: `matched signals ${hit.signalIds.join(', ')}` });
      }
    });
  }
  return { checked, failures };
}
