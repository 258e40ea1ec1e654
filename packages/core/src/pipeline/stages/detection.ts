import type { CatalogSnapshot } from '../../catalog/catalog-schema.js';
import { UNKNOWN_PATTERN_ID } from '../../catalog/catalog-schema.js';
import type { AbsenceStateStore } from '../../contracts/absence-state.js';
import type { EventLevel, ObservedEvent } from '../../contracts/observed-event.js';
import type { Clock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { AbsencePersistence } from '../absence-persistence.js';
import type { Candidate } from '../classifier.js';
import { incidentFingerprint } from '../fingerprint.js';
import { ABSENCE_SOURCE, AbsenceSignals } from '../absence-signals.js';
import { LruDedup } from '../lru-dedup.js';
import { Matcher, type PatternHit } from '../matcher.js';
import { KeyedRateLimiter } from '../rate-limiter.js';
import { SlidingWindowCounter } from '../sliding-window.js';
import { StreamIds } from '../stream-ids.js';
import { Cooldowns } from './cooldowns.js';
import { levelRank, type RawEvidence, evidenceLine, isWellFormed, pushEvidence, rawEvidence, renderEvidence } from './event-shape.js';
import { MetricSignals } from './metric-signals.js';
import { sourceLabels, type EngineCounters } from './observer.js';

/** Novel incidents: severe events no pattern matches, `count` within `windowMs` per host+service. */
export interface UnknownDetectionOptions {
  minLevel?: EventLevel;
  count?: number;
  windowMs?: number;
  cooldownMs?: number;
}

export interface DetectionOptions {
  dedupCapacity?: number;
  rateLimit?: { burst: number; perMinute: number };
  /** Events older than this (by their own timestamp) are counted as stale and never open an incident. */
  maxEvidenceAgeMs?: number;
  unknown?: UnknownDetectionOptions;
  /** How often `watchSilence` asks which streams went silent past an `absent` signal's `for:`. @default 15s */
  absenceCheckMs?: number;
}

/** An incident detection opened: what routing needs, and the cooldown it started. */
export interface DetectedIncident {
  fingerprint: string;
  host: string;
  service: string;
  /** The patterns whose triggers fired; empty for an UNKNOWN incident. */
  candidates: Candidate[];
  evidence: string[];
  /** The time (ms) of the event that opened it. */
  firstSeen: number;
  /** Until when (ms) the same fingerprint is suppressed. */
  cooldownUntil: number;
  /** Called once the incident row is written to the audit store (the event that opened it is then processed). */
  onRecorded?: () => void;
}

/** Default cooldown of an UNKNOWN incident. */
export const UNKNOWN_COOLDOWN_MS = 3_600_000;

interface WindowState {
  /** Raw until an incident is opened: redacted then (see `rawEvidence`). */
  evidence: RawEvidence[];
  signals: Map<string, number>;
}

/**
 * The hot path: dedup, staleness, matching, trigger windows, cooldown and rate limit. Synchronous
 * and free of I/O: one event in, at most one incident out. Throws only for a malformed event
 * (the facade counts and reports it).
 */
export class Detection {
  readonly cooldowns = new Cooldowns();
  private readonly dedup: LruDedup;
  private readonly limiter: KeyedRateLimiter;
  private readonly windows = new SlidingWindowCounter();
  private readonly windowState = new Map<string, WindowState>();
  /** UNKNOWN state per host+service stream, keyed by the stream's number (no key string per event). */
  private readonly streams = new StreamIds();
  private readonly unknownWindows = new SlidingWindowCounter<number>();
  private readonly unknownEvidence = new Map<number, RawEvidence[]>();
  private readonly fingerprints = new Map<string, string>();
  private readonly unknownFingerprints = new Map<number, string>();
  private readonly unknown: Required<UnknownDetectionOptions> & { minRank: number };
  private matcherCatalog: CatalogSnapshot;
  private matcher: Matcher;
  private metrics: MetricSignals;
  private absence: AbsenceSignals;
  /** The events `silences()` made, with the signal each stands for (the matcher knows nothing of them). */
  private readonly silenced = new WeakMap<ObservedEvent, PatternHit[]>();
  /** The absence streams in the audit store (when it keeps them): read at start, written by the timer. */
  private readonly persistence: AbsencePersistence;

  constructor(
    private readonly context: { clock: Clock; catalog: () => CatalogSnapshot; counters: EngineCounters; audit?: AbsenceStateStore; logger?: Logger },
    private readonly options: DetectionOptions = {},
  ) {
    this.dedup = new LruDedup(options.dedupCapacity ?? 10_000);
    this.limiter = new KeyedRateLimiter(options.rateLimit ?? { burst: 3, perMinute: 1 });
    this.matcherCatalog = context.catalog();
    this.matcher = new Matcher(this.matcherCatalog);
    this.metrics = new MetricSignals(this.matcherCatalog);
    const unknown = options.unknown ?? {};
    const minLevel = unknown.minLevel ?? 'error';
    this.unknown = { minLevel, minRank: levelRank(minLevel), count: unknown.count ?? 3, windowMs: unknown.windowMs ?? 300_000, cooldownMs: unknown.cooldownMs ?? UNKNOWN_COOLDOWN_MS };
    this.absence = new AbsenceSignals(this.matcherCatalog);
    this.persistence = new AbsencePersistence(context.audit, context.logger, () => {
      this.refreshCatalog();
      return this.absence;
    });
  }

  /** Reads the absence streams a previous run stored; called by the engine before its sources start. */
  restoreAbsence(): Promise<void> {
    return this.persistence.load();
  }

  /** Writes the absence streams changed since the last write (the engine's stop); never throws. */
  flushAbsence(): Promise<void> {
    return this.persistence.settle();
  }

  /** One event in; the incident it opens, if any. */
  detect(event: ObservedEvent): DetectedIncident | undefined {
    const { counters } = this.context;
    if (!isWellFormed(event)) throw new Error('not a well-formed ObservedEvent (id, time, host, service, level, message, labels)');
    if (!this.dedup.admit(event.id)) {
      counters.add('duplicates', sourceLabels(event.source));
      return undefined;
    }
    if (this.options.maxEvidenceAgeMs !== undefined && this.context.clock.now() - event.time > this.options.maxEvidenceAgeMs) {
      counters.add('stale', sourceLabels(event.source));
      return undefined;
    }
    this.refreshCatalog();
    // Only the events `silences()` made can be in the map: the others skip the lookup.
    const silence = event.source === ABSENCE_SOURCE ? this.silenced.get(event) : undefined;
    if (!silence && !this.absence.empty) this.absence.observe(event);
    const hits = silence ?? (event.kind === 'metric' ? this.metrics.hits(event) : this.matcher.match(event));
    if (hits.length === 0) return this.detectUnknown(event);
    counters.add('matched');
    let fired: Candidate[] | undefined;
    for (const hit of hits) {
      const key = `${hit.pattern.id}\0${event.host}\0${event.service}`;
      const windowMs = hit.pattern.trigger.window;
      const count = this.windows.add(key, event.time, windowMs);
      let state = this.windowState.get(key);
      if (!state) {
        state = { evidence: [], signals: new Map() };
        this.windowState.set(key, state);
      }
      pushEvidence(state.evidence, rawEvidence(event), count);
      for (const signalId of hit.signalIds) state.signals.set(signalId, event.time);
      if (count >= hit.pattern.trigger.count) {
        const signalIds = [...state.signals].filter(([, at]) => at > event.time - windowMs).map(([id]) => id);
        const confidence = signalIds.length / hit.pattern.required_signals.length;
        (fired ??= []).push({ pattern: hit.pattern, confidence, signalIds });
      }
    }
    if (!fired) return undefined;
    const fingerprint = this.fingerprint(
      fired.map((candidate) => candidate.pattern.id),
      event.host,
      event.service,
    );
    const cooldown = Math.max(...fired.map((candidate) => candidate.pattern.cooldown));
    const evidence = fired.flatMap((candidate) => this.windowState.get(`${candidate.pattern.id}\0${event.host}\0${event.service}`)?.evidence ?? []);
    return this.open(event, fingerprint, cooldown, fired, evidence);
  }

  /**
   * The streams silent past an `absent` signal's `for:` at the clock's now, as events for `detect`,
   * which treats each like a matching line: the same trigger window, cooldown and rate limit
   * decide whether it opens an incident. Deterministic: the lines seen and the clock decide.
   */
  silences(): ObservedEvent[] {
    this.refreshCatalog();
    return this.absence.silences(this.context.clock.now()).map(({ pattern, signalId, event }) => {
      this.silenced.set(event, [{ pattern, signalIds: [signalId] }]);
      return event;
    });
  }

  /** The timer: every `absenceCheckMs` until aborted, hands the silences to `ingest`. */
  async watchSilence(signal: AbortSignal, ingest: (event: ObservedEvent) => void): Promise<void> {
    const intervalMs = this.options.absenceCheckMs ?? 15_000;
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        timer.unref();
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      if (signal.aborted) break;
      for (const event of this.silences()) ingest(event);
      // Not awaited: a slow or failing store never delays the next check.
      void this.persistence.flush();
    }
  }

  private detectUnknown(event: ObservedEvent): DetectedIncident | undefined {
    const unknown = this.unknown;
    if (levelRank(event.level) < unknown.minRank) return undefined;
    const key = this.streams.id(event.host, event.service);
    const known = this.unknownFingerprints.get(key);
    // A line that slides out of the window before this stream's cooldown ends can never be counted
    // toward, nor shown in, a later incident: a flood in cooldown costs no window or evidence work.
    if (known !== undefined && this.cooldowns.until(known) >= event.time + unknown.windowMs) {
      this.context.counters.addSuppressedByCooldown();
      return undefined;
    }
    const count = this.unknownWindows.add(key, event.time, unknown.windowMs);
    let evidence = this.unknownEvidence.get(key);
    if (evidence === undefined) {
      evidence = [];
      this.unknownEvidence.set(key, evidence);
    }
    pushEvidence(evidence, rawEvidence(event), count);
    if (this.unknownEvidence.size > 10_000) this.unknownEvidence.delete(this.unknownEvidence.keys().next().value as number);
    if (count < unknown.count) {
      // Counted like the lines skipped above: every severe line of a stream cooling down is one.
      if (known !== undefined && this.cooldowns.active(known, event.time)) this.context.counters.addSuppressedByCooldown();
      return undefined;
    }
    let fingerprint = known;
    if (fingerprint === undefined) {
      if (this.unknownFingerprints.size >= 10_000) this.unknownFingerprints.clear();
      fingerprint = incidentFingerprint([UNKNOWN_PATTERN_ID], event.host, event.service);
      this.unknownFingerprints.set(key, fingerprint);
    }
    const opened = this.open(event, fingerprint, unknown.cooldownMs, [], evidence);
    if (opened) this.unknownEvidence.delete(key);
    return opened;
  }

  /**
   * Cooldown, then the per host+service rate limit; starts the cooldown of what it opens. The
   * evidence is rendered only for an incident really opened: a pattern's lines without repeats,
   * an UNKNOWN's as they came.
   */
  private open(event: ObservedEvent, fingerprint: string, cooldownMs: number, candidates: Candidate[], evidence: readonly RawEvidence[]): DetectedIncident | undefined {
    if (this.cooldowns.active(fingerprint, event.time)) {
      this.context.counters.addSuppressedByCooldown();
      return undefined;
    }
    if (!this.limiter.tryTake(`${event.host}\0${event.service}`, event.time)) {
      this.context.counters.add('rateLimited');
      return undefined;
    }
    const cooldownUntil = event.time + cooldownMs;
    this.cooldowns.start(fingerprint, cooldownUntil, event.time);
    this.context.counters.add('incidents');
    const lines = candidates.length > 0 ? renderEvidence(evidence) : evidence.map((item) => evidenceLine(item));
    return { fingerprint, host: event.host, service: event.service, candidates, evidence: lines, firstSeen: event.time, cooldownUntil };
  }

  /**
   * The incident fingerprint, remembered per candidates+host+service: a flood keeps hitting the
   * cooldown of the same fingerprint, and hashing it again for every line was a visible cost.
   */
  private fingerprint(patternIds: string[], host: string, service: string): string {
    const key = `${patternIds.join(',')}\0${host}\0${service}`;
    let fingerprint = this.fingerprints.get(key);
    if (fingerprint === undefined) {
      if (this.fingerprints.size >= 10_000) this.fingerprints.clear();
      fingerprint = incidentFingerprint(patternIds, host, service);
      this.fingerprints.set(key, fingerprint);
    }
    return fingerprint;
  }

  private refreshCatalog(): void {
    const catalog = this.context.catalog();
    if (catalog === this.matcherCatalog) return;
    this.matcherCatalog = catalog;
    this.matcher = new Matcher(catalog);
    this.metrics = new MetricSignals(catalog);
    this.absence = new AbsenceSignals(catalog).carryOver(this.absence);
  }
}
