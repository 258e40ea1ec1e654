import type { CatalogSnapshot, Pattern } from '../catalog/catalog-schema.js';
import type { AbsenceStreamChanges, AbsenceStreamKey, AbsenceStreamRecord } from '../contracts/absence-state.js';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { formatDuration } from '../util/duration.js';
import { toIso } from '../util/clock.js';
import { compileLinearRegex, type LinearRegex } from './linear-regex.js';

/** One compiled `absent` signal. */
interface AbsentEntry {
  pattern: Pattern;
  signalId: string;
  service: LinearRegex;
  host?: LinearRegex;
  message?: LinearRegex;
  forMs: number;
}

interface StreamState {
  entry: AbsentEntry;
  host: string;
  service: string;
  /** Time (ms, the line's own) of the last sign of life. */
  lastSeen: number;
  /** The silence since `lastSeen` was reported: quiet until the stream logs again. */
  reported: boolean;
  /** The `reported` last written to the store; undefined: this `lastSeen` was never written. */
  savedReported?: boolean;
}

/** What `pendingChanges` found to write, and `commit` to call once the store has it. */
export interface PendingAbsenceChanges {
  changes: AbsenceStreamChanges;
  commit: () => void;
}

/** A stream silent past its signal's `for:`: the pattern, the signal, and the event that says so. */
export interface Silence {
  pattern: Pattern;
  signalId: string;
  event: ObservedEvent;
}

export interface AbsenceSignalsOptions {
  /** Streams remembered; past it the one silent the longest is forgotten. @default 10000 */
  maxStreams?: number;
}

/** The `source` of the events `silences()` makes. */
export const ABSENCE_SOURCE = 'absence';

const SERVICE_CACHE_LIMIT = 4096;

function streamKey(state: StreamState): AbsenceStreamKey {
  return { patternId: state.entry.pattern.id, signalId: state.entry.signalId, host: state.host, service: state.service };
}

/**
 * The catalog's `absent` signals: which streams (host and service) have shown a sign of life,
 * and which have then been silent for a signal's `for:`. Free of I/O and timers: `observe` takes
 * each line, `silences(now)` is asked by whoever keeps time (the detection stage's timer, a test
 * with a manual clock), so the same lines and the same `now` always give the same answer.
 *
 * A stream fires once per silence: it is armed by a sign of life, reported when `for:` has passed
 * without one, and armed again by its next line. A stream that never logged is never reported:
 * absence is only meaningful for something that was there.
 */
export class AbsenceSignals {
  private readonly entries: AbsentEntry[] = [];
  private readonly streams = new Map<string, StreamState>();
  private readonly byService = new Map<string, AbsentEntry[]>();
  /** Streams forgotten (evicted, or their signal left the catalog) whose stored row is still to delete. */
  private readonly removed = new Map<string, AbsenceStreamKey>();
  private lastService: string | undefined;
  private lastEntries: readonly AbsentEntry[] = [];
  private readonly maxStreams: number;

  constructor(catalog: Pick<CatalogSnapshot, 'patterns'>, options: AbsenceSignalsOptions = {}) {
    this.maxStreams = options.maxStreams ?? 10_000;
    for (const pattern of catalog.patterns) {
      for (const signal of pattern.required_signals) {
        const absent = signal.absent;
        if (!absent) continue;
        this.entries.push({
          pattern,
          signalId: signal.id,
          // Matched without regard to case, as the matcher does.
          service: compileLinearRegex(absent.service, { ignoreCase: true }),
          ...(absent.host ? { host: compileLinearRegex(absent.host, { ignoreCase: true }) } : {}),
          ...(absent.message ? { message: compileLinearRegex(absent.message, { ignoreCase: absent.ignore_case, lazy: true }) } : {}),
          forMs: absent.for,
        });
      }
    }
  }

  /** True when the catalog has no `absent` signal (the hot path then skips this entirely). */
  get empty(): boolean {
    return this.entries.length === 0;
  }

  /** Streams remembered at most (the store keeps no more either). */
  get capacity(): number {
    return this.maxStreams;
  }

  /** Streams currently remembered. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Keeps the state of streams whose pattern and signal the new catalog still has (a reload must
   * not forget that a backup has been silent for a day), measured against the new `for:`.
   */
  carryOver(previous: AbsenceSignals): this {
    const entries = new Map(this.entries.map((entry) => [`${entry.pattern.id}\0${entry.signalId}`, entry]));
    for (const [key, state] of previous.streams) {
      const entry = entries.get(`${state.entry.pattern.id}\0${state.entry.signalId}`);
      if (entry) this.streams.set(key, { ...state, entry });
      else this.forget(key, streamKey(state));
    }
    for (const [key, removed] of previous.removed) if (!this.streams.has(key)) this.forget(key, removed);
    return this;
  }

  /** One line in: a sign of life for every `absent` signal whose scope and message it matches. */
  observe(event: ObservedEvent): void {
    if (this.entries.length === 0 || event.kind !== 'log') return;
    const entries = this.inService(event.service);
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index]!;
      if (entry.host && !entry.host.test(event.host)) continue;
      if (entry.message && !entry.message.test(event.message)) continue;
      const key = `${entry.pattern.id}\0${entry.signalId}\0${event.host}\0${event.service}`;
      const state = this.streams.get(key);
      if (state && state.lastSeen > event.time) continue; // an older line, arriving late
      // Re-inserted, so the map's order is the order of last signs of life (oldest first).
      this.streams.delete(key);
      this.streams.set(key, { entry, host: event.host, service: event.service, lastSeen: event.time, reported: false });
      if (this.streams.size > this.maxStreams) this.evictOldest();
    }
  }

  /**
   * Takes the streams a previous run stored (before any line of this run). A stream whose pattern
   * or signal the catalog no longer has, or whose host or service its scope no longer accepts,
   * is not taken and its row is deleted by the next write. A stream this run already saw a newer
   * line of keeps that line.
   */
  restore(records: readonly AbsenceStreamRecord[]): void {
    const entries = new Map(this.entries.map((entry) => [`${entry.pattern.id}\0${entry.signalId}`, entry]));
    const valid: { key: string; state: StreamState }[] = [];
    for (const record of records) {
      const key = `${record.patternId}\0${record.signalId}\0${record.host}\0${record.service}`;
      const entry = entries.get(`${record.patternId}\0${record.signalId}`);
      const lastSeen = Date.parse(record.lastSeen);
      if (!entry || !entry.service.test(record.service) || (entry.host && !entry.host.test(record.host)) || !Number.isFinite(lastSeen)) {
        this.forget(key, record);
        continue;
      }
      const known = this.streams.get(key);
      if (known && known.lastSeen >= lastSeen) continue;
      valid.push({ key, state: { entry, host: record.host, service: record.service, lastSeen, reported: record.reported, savedReported: record.reported } });
    }
    for (const { key, state } of valid) this.streams.set(key, state);
    // The map's order is the order of last signs of life (oldest first): eviction relies on it.
    const ordered = [...this.streams].sort(([, a], [, b]) => a.lastSeen - b.lastSeen);
    this.streams.clear();
    for (const [key, state] of ordered) this.streams.set(key, state);
    while (this.streams.size > this.maxStreams) this.evictOldest();
  }

  /**
   * The streams whose state changed since they were last written (a newer sign of life, a
   * silence reported) and those to delete; undefined when nothing changed. `commit` marks them
   * written: call it once the store has them, never when the write failed (the next try sends
   * them again). Walks the streams once, so it is called by a timer, not per line.
   */
  pendingChanges(): PendingAbsenceChanges | undefined {
    const written: { state: StreamState; reported: boolean }[] = [];
    const streams: AbsenceStreamRecord[] = [];
    for (const state of this.streams.values()) {
      if (state.savedReported === state.reported) continue;
      written.push({ state, reported: state.reported });
      streams.push({ ...streamKey(state), lastSeen: toIso(state.lastSeen), reported: state.reported });
    }
    const removed = [...this.removed];
    if (streams.length === 0 && removed.length === 0) return undefined;
    return {
      changes: { streams, removed: removed.map(([, key]) => key) },
      commit: () => {
        for (const { state, reported } of written) state.savedReported = reported;
        for (const [key, value] of removed) if (this.removed.get(key) === value) this.removed.delete(key);
      },
    };
  }

  private evictOldest(): void {
    const [key, state] = this.streams.entries().next().value as [string, StreamState];
    this.streams.delete(key);
    this.forget(key, streamKey(state));
  }

  /** Remembers to delete a stream's stored row (bounded: past the cap, a row is left to a later start's cap). */
  private forget(key: string, stream: AbsenceStreamKey): void {
    if (this.removed.size < this.maxStreams) this.removed.set(key, { patternId: stream.patternId, signalId: stream.signalId, host: stream.host, service: stream.service });
  }

  /** The streams silent for at least their signal's `for:` at `now`, each reported once per silence. */
  silences(now: number): Silence[] {
    const found: Silence[] = [];
    for (const [key, state] of this.streams) {
      if (state.reported || now - state.lastSeen < state.entry.forMs) continue;
      state.reported = true;
      const { entry, host, service, lastSeen } = state;
      found.push({
        pattern: entry.pattern,
        signalId: entry.signalId,
        event: {
          id: `absent\0${key}\0${lastSeen}`,
          kind: 'log',
          source: ABSENCE_SOURCE,
          time: now,
          host,
          service,
          level: 'error',
          message: `no ${entry.message ? 'matching line' : 'line'} from ${service} on ${host} since ${toIso(lastSeen)} (${formatDuration(now - lastSeen)}; signal ${entry.signalId} expects one within ${formatDuration(entry.forMs)})`,
          labels: { fish_signal: 'absent' },
        },
      });
    }
    return found;
  }

  /** The entries whose service regex accepts this service, decided once per distinct value. */
  private inService(service: string): readonly AbsentEntry[] {
    // Lines come in runs from one service (a flood, a chatty container): the last answer first.
    if (service === this.lastService) return this.lastEntries;
    let entries = this.byService.get(service);
    if (entries === undefined) {
      if (this.byService.size >= SERVICE_CACHE_LIMIT) this.byService.clear();
      entries = this.entries.filter((entry) => entry.service.test(service));
      this.byService.set(service, entries);
    }
    this.lastService = service;
    this.lastEntries = entries;
    return entries;
  }
}
