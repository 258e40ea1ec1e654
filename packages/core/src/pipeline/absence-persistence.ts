import type { AbsenceStateStore } from '../contracts/absence-state.js';
import { describeError } from '../errors.js';
import type { Logger } from '../util/logger.js';
import type { AbsenceSignals } from './absence-signals.js';

/**
 * Carries the `absent` signals' streams across a restart through the audit store (when it has
 * the optional `listAbsenceStreams` / `saveAbsenceStreams`). Nothing here runs per log line:
 * `load` once at start, `flush` from the absence timer and at stop, writing only the streams that
 * changed since the last write. A store that fails keeps the changes in memory for the next
 * flush; a write never overlaps the previous one and is never waited for by the timer.
 */
export class AbsencePersistence {
  private flushing: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly store: AbsenceStateStore | undefined,
    private readonly logger: Logger | undefined,
    private readonly signals: () => AbsenceSignals,
  ) {}

  /** Reads what the previous run stored, before any line of this one; rows the catalog lost are deleted. */
  async load(): Promise<void> {
    const store = this.store;
    if (!store?.listAbsenceStreams || !store.saveAbsenceStreams) return;
    const signals = this.signals();
    try {
      signals.restore(await store.listAbsenceStreams({ limit: signals.capacity }));
    } catch (error) {
      // Not fatal: the streams are watched from this run's lines on, as without a store.
      this.logger?.warn(`absent signals: cannot read the streams of the previous run: ${describeError(error)}`);
      return;
    }
    await this.flush();
  }

  /** Writes the streams changed since the last write. Never throws; resolves once this write ended. */
  async flush(): Promise<void> {
    const store = this.store;
    if (!store?.saveAbsenceStreams) return;
    if (this.flushing) return this.flushing;
    const pending = this.signals().pendingChanges();
    if (!pending) return;
    this.flushing = store
      .saveAbsenceStreams(pending.changes)
      .then(
        () => {
          pending.commit();
          if (this.failing) this.logger?.info('absent signals: the streams are written again');
          this.failing = false;
        },
        (error: unknown) => {
          if (!this.failing) this.logger?.warn(`absent signals: cannot write the streams (kept in memory, retried at the next check): ${describeError(error)}`);
          this.failing = true;
        },
      )
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  /** At stop: waits for a write under way, then writes what changed since. */
  async settle(): Promise<void> {
    await this.flushing;
    await this.flush();
  }
}
