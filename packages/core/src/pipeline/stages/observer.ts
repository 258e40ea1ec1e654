/** The engine's counters: each also exported to metrics through the observer. */
export type EngineCounter =
  | 'events'
  /** Events a source yielded into the bus, labelled `{ source }`. */
  | 'received'
  /** Labelled `{ source }` (the source instance's name), as are `duplicates` and `dropped`. */
  | 'stale'
  | 'duplicates'
  /** Events the bus refused (full, or closed at stop). */
  | 'dropped'
  | 'matched'
  | 'incidents'
  | 'unknownIncidents'
  | 'suppressedByCooldown'
  | 'claimedElsewhere'
  | 'rateLimited'
  | 'proposals'
  | 'executions'
  | 'notifications'
  | 'notificationFailures'
  /** Notifications the outbox gave up on: not delivered before they expired. */
  | 'notificationsExpired'
  | 'errors';

const SOURCE_LABELS = new Map<string, Readonly<Record<string, string>>>();
const OTHER_SOURCE: Readonly<Record<string, string>> = Object.freeze({ source: 'other' });

/**
 * The `{ source }` labels of a per-source counter, one frozen object per source name (no
 * allocation per event). Sources are the configured instances, a handful; past 64 names, the
 * rest count as `other`, so a source that invents names cannot blow up the metric's cardinality.
 */
export function sourceLabels(source: unknown): Readonly<Record<string, string>> {
  if (typeof source !== 'string') return OTHER_SOURCE;
  let labels = SOURCE_LABELS.get(source);
  if (labels === undefined) {
    if (SOURCE_LABELS.size >= 64) return OTHER_SOURCE;
    labels = Object.freeze({ source });
    SOURCE_LABELS.set(source, labels);
  }
  return labels;
}

/** Durations the engine measures, in milliseconds. */
export type EngineHistogram =
  /** From a detected incident to its proposal, escalation or UNKNOWN notice (classification included). */
  | 'incidentRouting'
  /** One notifier call. */
  | 'notification'
  /** One fix, verify or rollback step, as the executor reported it. */
  | 'executionStep';

/** The counters the engine also keeps per source (the source instance's name). */
export type EngineSourceCounter = 'received' | 'dropped' | 'stale' | 'duplicates';

/** One source's counts of the per-source counters. */
export type EngineSourceCounts = Record<EngineSourceCounter, number>;

/**
 * What an observer can read of the engine's counters whenever it likes (a Prometheus exporter:
 * when scraped), instead of being called for every event.
 */
export interface EngineCountersView {
  /**
   * The per-source counts by source name (past 64 names, the rest under `other`): the live
   * objects the engine increments, to be read, never written. A source appears with its first
   * counted event.
   */
  bySource(): ReadonlyMap<string, Readonly<EngineSourceCounts>>;
}

/**
 * A hook for metrics (a Prometheus exporter, tracing). Called synchronously on the hot path, so
 * an implementation must be cheap and must not throw; labels are low-cardinality (pattern ids,
 * verbs, outcomes; never hosts' free text or evidence).
 */
export interface EngineObserver {
  /**
   * The counters `count` is called for; without it, every counter. An observer that needs a few
   * keeps the others (`events` goes up for every event) off the hot path.
   */
  counters?: readonly EngineCounter[];
  /** A counter went up by one. */
  count?(counter: EngineCounter, labels?: Readonly<Record<string, string>>): void;
  /** A duration was measured. */
  observe?(histogram: EngineHistogram, milliseconds: number, labels?: Readonly<Record<string, string>>): void;
  /**
   * Called once, when the engine is made, with a view of its counters. With `attach`, the engine
   * keeps the per-source counts (a field increment per event on an object the source pump holds),
   * and an observer that exports totals reads them when it is scraped: no call per event.
   */
  attach?(view: EngineCountersView): void;
}

/** One slot per counter, every field present from the start (one object shape, no lookup by hash). */
type CounterValues = Record<EngineCounter, number>;

const zeroCounters = (): CounterValues => ({
  events: 0,
  received: 0,
  stale: 0,
  duplicates: 0,
  dropped: 0,
  matched: 0,
  incidents: 0,
  unknownIncidents: 0,
  suppressedByCooldown: 0,
  claimedElsewhere: 0,
  rateLimited: 0,
  proposals: 0,
  executions: 0,
  notifications: 0,
  notificationFailures: 0,
  notificationsExpired: 0,
  errors: 0,
});

const zeroSourceCounts = (): EngineSourceCounts => ({ received: 0, dropped: 0, stale: 0, duplicates: 0 });

/**
 * The counters behind `FishEngine.stats()`, forwarding each step to the observer. Called for
 * every event: a field increment, and the observer only when it counts.
 */
export class EngineCounters {
  private readonly values = zeroCounters();
  /** 1 for each counter forwarded to the observer's `count`, 0 for the others. */
  private readonly forwarded = zeroCounters();
  /** Per-source counts by source name, kept only for an observer that attached. */
  private readonly sources: Map<string, EngineSourceCounts> | undefined;

  constructor(private readonly observer: EngineObserver = {}) {
    if (observer.attach !== undefined) {
      const sources = new Map<string, EngineSourceCounts>();
      this.sources = sources;
      try {
        observer.attach({ bySource: () => sources });
      } catch {
        // An observer is never allowed to break the engine.
      }
    }
    if (observer.count === undefined) return;
    for (const counter of Object.keys(this.forwarded) as EngineCounter[]) this.forwarded[counter] = !observer.counters || observer.counters.includes(counter) ? 1 : 0;
  }

  /**
   * The counts of the source whose labels (from `sourceLabels`) are given, for a caller that counts
   * many events of one source (the source pump); undefined when no observer reads them.
   */
  sourceSlot(labels: Readonly<Record<string, string>>): EngineSourceCounts | undefined {
    if (this.sources === undefined) return undefined;
    const name = labels.source ?? 'other';
    let slot = this.sources.get(name);
    if (slot === undefined) {
      slot = zeroSourceCounts();
      this.sources.set(name, slot);
    }
    return slot;
  }

  add(counter: EngineCounter, labels?: Readonly<Record<string, string>>): void {
    this.values[counter]++;
    if (this.sources !== undefined && labels !== undefined && (counter === 'dropped' || counter === 'stale' || counter === 'duplicates' || counter === 'received')) {
      this.sourceSlot(labels)![counter]++;
    }
    if (this.forwarded[counter] === 1) this.forward(counter, labels);
  }

  /** `add` for a per-source counter, with the source's slot in hand (no lookup): the source pump's, per event. */
  addToSource(counter: EngineSourceCounter, labels: Readonly<Record<string, string>>, slot: EngineSourceCounts | undefined): void {
    this.values[counter]++;
    if (slot !== undefined) slot[counter]++;
    if (this.forwarded[counter] === 1) this.forward(counter, labels);
  }

  private forward(counter: EngineCounter, labels: Readonly<Record<string, string>> | undefined): void {
    if (this.observer.count === undefined) return;
    try {
      this.observer.count(counter, labels);
    } catch {
      // An observer is never allowed to break the loop.
    }
  }

  observe(histogram: EngineHistogram, milliseconds: number, labels?: Readonly<Record<string, string>>): void {
    if (!this.observer.observe) return;
    try {
      this.observer.observe(histogram, milliseconds, labels);
    } catch {
      // As above.
    }
  }

  get(counter: EngineCounter): number {
    return this.values[counter] ?? 0;
  }

  /** The counts `FishEngine.stats()` reports, by their names there. */
  snapshot(): Record<StatsCounter, number> {
    return Object.fromEntries(STATS_COUNTERS.map((name) => [name, this.get(name)])) as Record<StatsCounter, number>;
  }
}

/** The counters `FishEngineStats` carries. */
const STATS_COUNTERS = [
  'events',
  'stale',
  'duplicates',
  'matched',
  'incidents',
  'unknownIncidents',
  'suppressedByCooldown',
  'claimedElsewhere',
  'rateLimited',
  'proposals',
  'executions',
  'errors',
] as const satisfies readonly EngineCounter[];
type StatsCounter = (typeof STATS_COUNTERS)[number];
