/**
 * One stream an `absent` signal watches (its pattern and signal, the host and service that
 * logged), and its last sign of life: what lets a restarted fish still notice that a nightly
 * backup stopped finishing before or during the downtime.
 */
export interface AbsenceStreamRecord {
  /** The catalog pattern whose `absent` signal watches the stream. */
  patternId: string;
  /** The signal's id within the pattern. */
  signalId: string;
  /** The host the stream's lines came from (`ObservedEvent.host`). */
  host: string;
  /** The service the stream's lines came from (`ObservedEvent.service`). */
  service: string;
  /** The time of the last sign of life (ISO-8601, the line's own timestamp). */
  lastSeen: string;
  /** True once the silence since `lastSeen` was reported: a restart does not report it again. */
  reported: boolean;
}

/** Which stream: a row of `AbsenceStreamRecord` without its state. */
export type AbsenceStreamKey = Pick<AbsenceStreamRecord, 'patternId' | 'signalId' | 'host' | 'service'>;

/** Changed streams and forgotten ones, written together. */
export interface AbsenceStreamChanges {
  /** Streams to write. A stored row with a newer `lastSeen` is kept; at the same `lastSeen`, `reported` only turns true. */
  streams: readonly AbsenceStreamRecord[];
  /** Streams to delete (their pattern or signal left the catalog, or they were evicted past the cap). */
  removed: readonly AbsenceStreamKey[];
}

/**
 * The durable side of the `absent` signals, part of the AuditStore. Optional: without it the
 * engine keeps the streams in memory only, and a restart forgets them. The engine reads the
 * streams once at start, before its sources start, and writes the changed ones from its
 * absence timer (never once per log line).
 */
export interface AbsenceStateStore {
  /**
   * The stored streams, the most recent sign of life first, at most `limit` of them. Called once
   * by `FishEngine.start()`. @default limit 10000
   */
  listAbsenceStreams?(filter?: { limit?: number }): Promise<AbsenceStreamRecord[]>;
  /**
   * Writes changed streams and deletes removed ones, in one transaction. Called by the engine's
   * absence timer and by `stop()`; a failure leaves the engine's state in memory for the next try.
   */
  saveAbsenceStreams?(changes: AbsenceStreamChanges): Promise<void>;
}
