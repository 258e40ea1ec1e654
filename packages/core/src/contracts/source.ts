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
 * How the consumer of `events()` takes delivery of the events (its optional second argument).
 * A source written before this argument existed simply ignores it.
 */
export interface SourceDelivery {
  /**
   * True when the consumer calls `acknowledge(event)` for every event it took, once it has
   * finished processing it (the engine: detection ran, and an incident the event opened is
   * written to the audit store or its failure handled). A source that keeps a read position then
   * saves only positions before which every event was acknowledged. Absent or false: an event
   * counts as processed as soon as the consumer asks for the next one.
   */
  acknowledges?: boolean;
}

/**
 * A Source observes something (logs, metrics, alerts) and yields normalised events.
 *
 * Sources reconnect by themselves and never drop silently: anything they lose is counted in
 * `health().counters`. The iterator ends only when `signal` is aborted.
 *
 * Delivery from a source to the engine is at-least-once. A source that keeps a read position
 * across restarts (in the app's `PluginStateStore`) saves only what the engine acknowledged (see
 * `acknowledge`); after a crash it reads again from the first event that was not acknowledged:
 * events still in the source's own buffer, in a multi-line message being joined, in the
 * engine's bus, or being recorded when the process died. Events acknowledged after the last
 * save completed may be read a second time; their ids are the same, and an incident they open
 * again is suppressed by its cooldown, which survives the restart in the audit store.
 */
export interface Source {
  /** Contract version; the registry refuses versions it does not know. */
  readonly specificationVersion: 'v1';
  /** Instance name from the config (`sources[].name`), used in logs and event.source. */
  readonly name: string;
  /**
   * Yields events until `signal` aborts, then returns. Called once by the engine, which pumps
   * the iterator into its bounded bus. After the abort a source may still yield what it already
   * holds (a multi-line message being joined, its own buffer) before it returns: the engine keeps
   * taking events for a bounded time on a graceful stop, so they are processed once, not re-read. Must not throw for a transient outage: it reconnects by
   * itself with backoff and counts what it lost in `health().counters`.
   * @throws FishError `SOURCE_UNREACHABLE` / `SOURCE_PROTOCOL` only when it cannot go on (bad
   * credentials, a protocol it cannot speak); the engine logs the error, counts it and calls
   * `events` again after a delay.
   */
  events(signal: AbortSignal, delivery?: SourceDelivery): AsyncIterable<ObservedEvent>;
  /**
   * Called by a consumer that asked for acknowledgements (`delivery.acknowledges`), once per
   * event it took from `events()`, when it has finished processing that event; in any order, and
   * also after the iterator ended. The source may then save a read position past the event (and
   * past every event before it that was acknowledged too); a returned promise settles once that
   * save is done, and the engine waits for it before it reports itself stopped. Never throws.
   * Optional: a source without a read position has nothing to do with it.
   */
  acknowledge?(event: ObservedEvent): void | Promise<void>;
  /** Current health; cheap and synchronous, called by `fish-sre doctor` and the metrics endpoint. Optional: a source without it is reported as `connected`. */
  health?(): SourceHealth;
  /** Reaches the upstream once and says whether it answers. Called by `fish-sre doctor`; never throws, reports in `detail`. */
  check?(signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  /** Releases sockets and timers. Called once by the app on shutdown, after `signal` aborted. */
  close?(): Promise<void>;
}
