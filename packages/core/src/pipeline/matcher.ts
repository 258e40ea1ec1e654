import type { ObservedEvent } from '../contracts/observed-event.js';
import type { CatalogSnapshot, Pattern, Signal } from '../catalog/catalog-schema.js';
import { compileLinearRegex, type LinearRegex } from './linear-regex.js';
import { createLiteralIndex, type LiteralIndex, type LiteralSink } from './literal-index.js';
import { requiredLiterals } from './regex-literals.js';
import { compareMetric } from './metric-compare.js';

export { sampleToEvent, sampleToEvents, sampleSilences, checkCatalogSamples, type SampleCheckFailure } from './catalog-samples.js';
export { compareMetric, type MetricOperator } from './metric-compare.js';
export { compileLinearRegex, type LinearRegex } from './linear-regex.js';

/** Which of a pattern's required signals one event satisfies. */
export interface PatternHit {
  pattern: Pattern;
  /** Ids of the pattern's required signals this event matched (at least one). */
  signalIds: string[];
}

export interface MatcherOptions {
  /** Messages longer than this are cut before matching (counted in `stats().truncated`). @default 16384 */
  maxMessageLength?: number;
  /** Streams remembered for `followed_by` signals; the oldest is forgotten past it. @default 10000 */
  maxPendingStreams?: number;
}

export interface MatcherStats {
  /** Messages cut to `maxMessageLength` before matching. */
  truncated: number;
  /** Message regexes run (lines whose literals selected a signal, or signals with no literal). */
  regexRuns: number;
  /** Signals with no usable literal: tried on every line in their scope. */
  unindexedSignals: number;
  /** States of the literal automaton and the bytes of its tables. */
  indexStates: number;
  indexBytes: number;
}

/** One compiled log signal; `part` 1 is a `followed_by` signal's later line. */
interface LogEntry {
  patternIndex: number;
  signalId: string;
  levels?: ReadonlySet<string>;
  service?: LinearRegex;
  host?: LinearRegex;
  labels: Array<[string, LinearRegex]>;
  message: LinearRegex;
  followedBy?: { message: LinearRegex; within: number };
}

/** A log-signal regex part: the first line's message (0) or the later line's (1). */
interface Part {
  entry: number;
  part: 0 | 1;
}

const SCOPE_CACHE_LIMIT = 4096;

/**
 * The parts whose literals the line being matched contains: the first `count` of `ids`, in the
 * order found, without repeats (a part found is marked with the line's generation).
 */
class Candidates implements LiteralSink {
  readonly ids: Int32Array;
  count = 0;
  private readonly seen: Uint32Array;
  private generation = 0;

  constructor(parts: number) {
    this.ids = new Int32Array(parts);
    this.seen = new Uint32Array(parts);
  }

  /** Empties the set for the next line. */
  next(): void {
    this.count = 0;
    if (++this.generation === 0xffffffff) {
      this.seen.fill(0);
      this.generation = 1;
    }
  }

  found(id: number): void {
    if (this.seen[id] === this.generation) return;
    this.seen[id] = this.generation;
    this.ids[this.count++] = id;
  }
}
/** Shared results of the common case, a line that matches nothing (frozen: never filled in). */
const NO_HITS: Array<{ patternIndex: number; signalId: string }> = Object.freeze([]) as never;
const NO_PATTERNS: PatternHit[] = Object.freeze([]) as never;

const serviceOf = (entry: LogEntry): LinearRegex | undefined => entry.service;
const hostOf = (entry: LogEntry): LinearRegex | undefined => entry.host;

function labelsMatch(event: ObservedEvent, matchers: Array<[string, LinearRegex]>): boolean {
  for (const [name, regex] of matchers) {
    const value = event.labels[name];
    if (value === undefined || !regex.test(value)) return false;
  }
  return true;
}

function compileLabels(labels: Record<string, string>): Array<[string, LinearRegex]> {
  return Object.entries(labels).map(([name, source]) => [name, compileLinearRegex(source)]);
}

/**
 * The deterministic matcher: the catalog compiled once. It decides which patterns an event is
 * evidence for. No LLM involved, no text from the event is ever executed.
 *
 * Its cost per line does not grow with the catalog: every message regex runs on the linear-time
 * engine, and only for lines that contain one of the literals every match of it must contain
 * (found by one pass of a literal automaton) and whose level, service and host are in its scope
 * (decided once per distinct value). `followed_by` signals keep, per stream, when their first
 * line was seen.
 */
export class Matcher {
  private readonly entries: LogEntry[] = [];
  private readonly parts: Part[] = [];
  private readonly unindexed: number[] = [];
  private readonly index: LiteralIndex;
  private readonly metricSignals: Array<{ patternIndex: number; signal: Signal }> = [];
  private readonly alertSignals: Array<{ patternIndex: number; signalId: string; alertname: string; labels: Array<[string, LinearRegex]> }> = [];
  private readonly serviceScope = new Map<string, Uint8Array>();
  private readonly hostScope = new Map<string, Uint8Array>();
  private readonly pending = new Map<string, number>();
  private readonly maxMessageLength: number;
  private readonly maxPendingStreams: number;
  private readonly counters = { truncated: 0, regexRuns: 0 };
  private readonly candidates: Candidates;

  constructor(
    readonly catalog: Pick<CatalogSnapshot, 'patterns'>,
    options: MatcherOptions = {},
  ) {
    this.maxMessageLength = options.maxMessageLength ?? 16_384;
    this.maxPendingStreams = options.maxPendingStreams ?? 10_000;
    const literals: Array<{ literal: string; id: number }> = [];
    const addPart = (entry: number, part: 0 | 1, source: string) => {
      const id = this.parts.push({ entry, part }) - 1;
      const found = requiredLiterals(source);
      if (found) for (const literal of found) literals.push({ literal, id });
      else this.unindexed.push(id);
    };
    catalog.patterns.forEach((pattern, patternIndex) => {
      for (const signal of pattern.required_signals) {
        if (signal.log) {
          const log = signal.log;
          const entry =
            this.entries.push({
              patternIndex,
              signalId: signal.id,
              ...(log.level ? { levels: new Set(log.level) } : {}),
              // Names, not text: a container called `Grafana` runs grafana, and host names ignore case (RFC 4343).
              ...(log.service ? { service: compileLinearRegex(log.service, { ignoreCase: true }) } : {}),
              ...(log.host ? { host: compileLinearRegex(log.host, { ignoreCase: true }) } : {}),
              labels: compileLabels(log.labels),
              message: compileLinearRegex(log.message, { ignoreCase: log.ignore_case, lazy: true }),
              ...(log.followed_by
                ? { followedBy: { message: compileLinearRegex(log.followed_by.message, { ignoreCase: log.followed_by.ignore_case, lazy: true }), within: log.followed_by.within } }
                : {}),
            }) - 1;
          addPart(entry, 0, log.message);
          if (log.followed_by) addPart(entry, 1, log.followed_by.message);
        } else if (signal.metric) this.metricSignals.push({ patternIndex, signal });
        else if (signal.alert) this.alertSignals.push({ patternIndex, signalId: signal.id, alertname: signal.alert.alertname, labels: compileLabels(signal.alert.labels) });
      }
    });
    this.index = createLiteralIndex(literals);
    this.candidates = new Candidates(this.parts.length);
  }

  stats(): MatcherStats {
    return { ...this.counters, unindexedSignals: this.unindexed.length, indexStates: this.index.states, indexBytes: this.index.bytes };
  }

  /** Forgets the first lines `followed_by` signals were waiting on. */
  reset(): void {
    this.pending.clear();
  }

  /** Every pattern for which this event matches at least one required signal (do not modify the list). */
  match(event: ObservedEvent): PatternHit[] {
    if (event.kind === 'log') return this.group(this.matchLog(event));
    if (event.kind === 'metric') {
      const metric = event.metric;
      if (!metric) return [];
      return this.group(
        this.metricSignals
          .filter(({ signal }) => signal.metric!.query === metric.name && compareMetric(signal.metric!.op, metric.value, signal.metric!.threshold) && (metric.heldForMs ?? 0) >= signal.metric!.for)
          .map(({ patternIndex, signal }) => ({ patternIndex, signalId: signal.id })),
      );
    }
    if (event.alertStatus === 'resolved') return [];
    return this.group(this.alertSignals.filter((alert) => event.labels['alertname'] === alert.alertname && labelsMatch(event, alert.labels)));
  }

  private matchLog(event: ObservedEvent): Array<{ patternIndex: number; signalId: string }> {
    let message = event.message;
    if (message.length > this.maxMessageLength) {
      this.counters.truncated++;
      message = message.slice(0, this.maxMessageLength);
    }
    const found = this.candidates;
    found.next();
    this.index.scan(message, found);
    const { unindexed } = this;
    for (let index = 0; index < unindexed.length; index++) found.found(unindexed[index]!);
    const { ids: candidates, count } = found;
    if (count === 0) return NO_HITS;
    // Catalog order, in place: an insertion sort for the usual few candidates.
    if (count > 16) candidates.subarray(0, count).sort();
    else {
      for (let index = 1; index < count; index++) {
        const id = candidates[index]!;
        let at = index - 1;
        for (; at >= 0 && candidates[at]! > id; at--) candidates[at + 1] = candidates[at]!;
        candidates[at + 1] = id;
      }
    }
    const serviceScope = this.scope(this.serviceScope, event.service, serviceOf);
    const hostScope = this.scope(this.hostScope, event.host, hostOf);
    let hits: Array<{ patternIndex: number; signalId: string }> = NO_HITS;
    // First lines are remembered after the loop: one line is never its own continuation.
    let firstLines: string[] | undefined;
    for (let index = 0; index < count; index++) {
      const id = candidates[index]!;
      const { entry: entryIndex, part } = this.parts[id]!;
      const entry = this.entries[entryIndex]!;
      if (serviceScope[entryIndex] === 0 || hostScope[entryIndex] === 0) continue;
      if (part === 1) {
        const key = `${entryIndex}\0${event.host}\0${event.service}`;
        const since = this.pending.get(key);
        if (since === undefined || event.time < since || event.time - since > entry.followedBy!.within) continue;
        this.counters.regexRuns++;
        if (!entry.followedBy!.message.test(message)) continue;
        this.pending.delete(key);
        if (hits === NO_HITS) hits = [];
        hits.push({ patternIndex: entry.patternIndex, signalId: entry.signalId });
        continue;
      }
      if (entry.levels && !entry.levels.has(event.level)) continue;
      if (entry.labels.length > 0 && !labelsMatch(event, entry.labels)) continue;
      this.counters.regexRuns++;
      if (!entry.message.test(message)) continue;
      if (entry.followedBy) (firstLines ??= []).push(`${entryIndex}\0${event.host}\0${event.service}`);
      else {
        if (hits === NO_HITS) hits = [];
        hits.push({ patternIndex: entry.patternIndex, signalId: entry.signalId });
      }
    }
    if (firstLines) for (const key of firstLines) this.remember(key, event.time);
    return hits;
  }

  /** Which entries accept this service (or host): each regex runs once per distinct value. */
  private scope(cache: Map<string, Uint8Array>, value: string, regexOf: (entry: LogEntry) => LinearRegex | undefined): Uint8Array {
    let scope = cache.get(value);
    if (scope) return scope;
    scope = new Uint8Array(this.entries.length);
    this.entries.forEach((entry, index) => {
      const regex = regexOf(entry);
      scope![index] = regex === undefined || regex.test(value.slice(0, 1024)) ? 1 : 0;
    });
    if (cache.size >= SCOPE_CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(value, scope);
    return scope;
  }

  private remember(key: string, time: number): void {
    this.pending.delete(key);
    this.pending.set(key, time);
    if (this.pending.size > this.maxPendingStreams) this.pending.delete(this.pending.keys().next().value as string);
  }

  /** Hits grouped per pattern, in catalog order, signal ids in the pattern's order. */
  private group(hits: Array<{ patternIndex: number; signalId: string }>): PatternHit[] {
    if (hits.length === 0) return NO_PATTERNS;
    const byPattern = new Map<number, string[]>();
    for (const hit of hits) {
      const ids = byPattern.get(hit.patternIndex);
      if (ids) {
        if (!ids.includes(hit.signalId)) ids.push(hit.signalId);
      } else byPattern.set(hit.patternIndex, [hit.signalId]);
    }
    return [...byPattern]
      .sort(([a], [b]) => a - b)
      .map(([patternIndex, signalIds]) => {
        const pattern = this.catalog.patterns[patternIndex]!;
        const order = pattern.required_signals.map((signal) => signal.id);
        return { pattern, signalIds: signalIds.sort((a, b) => order.indexOf(a) - order.indexOf(b)) };
      });
  }

  /** Confidence of a pattern given the set of its signal ids seen: matched / required. */
  static confidence(pattern: Pattern, seenSignalIds: Iterable<string>): number {
    const seen = new Set(seenSignalIds);
    const matched = pattern.required_signals.filter((signal) => seen.has(signal.id)).length;
    return matched / pattern.required_signals.length;
  }
}
