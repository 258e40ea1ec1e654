import type { ObservedEvent } from './observed-event.js';

/** Health of a source, as reported to `fish-sre doctor` and the metrics endpoint. */
export interface SourceHealth {
  /** `connected`: data flows; `reconnecting`: lost, retrying by itself; `down`: given up or not started. */
  state: 'connected' | 'reconnecting' | 'down';
  /** Words a homelab owner understands: what is wrong and what to check. */
  detail?: string;
  /** Monotonic counters: events emitted, reconnects, dropped, late ... Never reset while running. */
  counters: Record<string, number>;
}

/**
 * A Source observes something (logs, metrics, alerts) and yields normalised events.
 *
 * Sources reconnect by themselves and never drop silently: anything they lose is counted in
 * `health().counters`. The iterator ends only when `signal` is aborted.
 */
export interface Source {
  /** Contract version; the registry refuses versions it does not know. */
  readonly specificationVersion: 'v1';
  /** Instance name from the config (`sources[].name`), used in logs and event.source. */
  readonly name: string;
  /**
   * Yields events until `signal` aborts, then returns. Called once by the engine, which pumps
   * the iterator into its bounded bus. Must not throw for a transient outage: it reconnects by
   * itself with backoff and counts what it lost in `health().counters`.
   * @throws FishError `SOURCE_UNREACHABLE` / `SOURCE_PROTOCOL` only when it cannot go on (bad
   * credentials, a protocol it cannot speak); the engine logs the error, counts it and calls
   * `events` again after a delay.
   */
  events(signal: AbortSignal): AsyncIterable<ObservedEvent>;
  /** Current health; cheap and synchronous, called by `fish-sre doctor` and the metrics endpoint. Optional: a source without it is reported as `connected`. */
  health?(): SourceHealth;
  /** Reaches the upstream once and says whether it answers. Called by `fish-sre doctor`; never throws, reports in `detail`. */
  check?(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  /** Releases sockets and timers. Called once by the app on shutdown, after `signal` aborted. */
  close?(): Promise<void>;
}
