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

/**
 * The counters behind `FishEngine.stats()`, forwarding each step to the observer. Called for
 * every event: a field increment, and the observer only when it counts.
 */
export class EngineCounters {
  private readonly values = zeroCounters();
  /** 1 for each counter forwarded to the observer's `count`, 0 for the others. */
  private readonly forwarded = zeroCounters();

  constructor(private readonly observer: EngineObserver = {}) {
    if (observer.count === undefined) return;
    for (const counter of Object.keys(this.forwarded) as EngineCounter[]) this.forwarded[counter] = !observer.counters || observer.counters.includes(counter) ? 1 : 0;
  }

  add(counter: EngineCounter, labels?: Readonly<Record<string, string>>): void {
    this.values[counter]++;
    if (this.forwarded[counter] === 1 && this.observer.count !== undefined) {
      try {
        this.observer.count(counter, labels);
      } catch {
        // An observer is never allowed to break the loop.
      }
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
