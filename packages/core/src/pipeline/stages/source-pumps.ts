import type { ObservedEvent } from '../../contracts/observed-event.js';
import type { Source } from '../../contracts/source.js';
import { FishError, FishErrorCode, describeError, errorMessage } from '../../errors.js';
import { sleep } from '../../util/sleep.js';
import type { EventBus } from '../event-bus.js';
import { sourceLabels, type EngineCounters } from './observer.js';
import type { TaskTracker } from './task-tracker.js';

/** The longest a graceful stop waits for the sources to hand on what they hold (a message being joined). */
export const SOURCE_STOP_MS = 5_000;

export interface SourcePumpDeps {
  /** The bus of the current run. */
  bus: () => EventBus;
  counters: EngineCounters;
  tasks: TaskTracker;
  fail: (error: unknown) => void;
}

/**
 * The sources' side of the bus: one pump per source, restarted with backoff when the source
 * throws (one broken source never stops the loop), and the way back: each event is acknowledged
 * to the source that yielded it once the engine has processed it, so that the read position a
 * source saves never passes an event still queued in the bus or being recorded.
 */
export class SourcePumps {
  /** The source of each event taken from a source that wants acknowledgements, until acknowledged. */
  private readonly owners = new WeakMap<object, Source>();
  private running: Array<Promise<void>> = [];

  constructor(private readonly deps: SourcePumpDeps) {}

  /** Starts one pump per source; each ends once its source's iterator ended after `signal` aborted. */
  start(sources: readonly Source[], signal: AbortSignal): void {
    this.running = sources.map((source) => this.pump(source, signal));
    for (const pump of this.running) this.deps.tasks.trackLoop(pump);
  }

  /**
   * Resolves once every pump has ended (after the abort the sources hand on what they still hold,
   * then return), or after `timeoutMs`; true when they all ended in time.
   */
  async ended(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    const all = Promise.allSettled(this.running).then(() => true as const);
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The callback that acknowledges `event` to its source, or undefined when its source did not ask
   * for acknowledgements (no allocation on the hot path then).
   */
  acknowledgement(event: ObservedEvent): (() => void) | undefined {
    if (event === null || typeof event !== 'object' || !this.owners.has(event)) return undefined;
    return () => this.acknowledge(event);
  }

  /** Tells the source that yielded `event` that it was processed; a position save it starts is waited for by stop(). */
  acknowledge(event: ObservedEvent): void {
    const source = event !== null && typeof event === 'object' ? this.owners.get(event) : undefined;
    if (!source) return;
    this.owners.delete(event);
    try {
      const saved = source.acknowledge?.(event);
      if (saved) void this.deps.tasks.track(Promise.resolve(saved));
    } catch (error) {
      this.deps.fail(new FishError({ code: FishErrorCode.SOURCE_PROTOCOL, message: errorMessage(source.name, `acknowledge() threw: ${describeError(error)}`), cause: error }));
    }
  }

  private async pump(source: Source, signal: AbortSignal): Promise<void> {
    let delay = 1000;
    const received = sourceLabels(source.name);
    const slot = this.deps.counters.sourceSlot(received);
    const acknowledges = typeof source.acknowledge === 'function';
    while (!signal.aborted) {
      try {
        // After the abort the iterator is still read until it ends: what the source flushes then
        // (a message being joined) reaches the bus while stop() waits for the pumps.
        for await (const event of source.events(signal, { acknowledges })) {
          this.deps.counters.addToSource('received', received, slot);
          if (acknowledges && event !== null && typeof event === 'object') this.owners.set(event, source);
          // A closed bus refuses it: not acknowledged, the source reads it again after a restart.
          if (!(await this.deps.bus().put(event))) return;
          delay = 1000;
        }
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.deps.fail(
          new FishError({
            code: FishErrorCode.SOURCE_UNREACHABLE,
            message: errorMessage(source.name, `source failed, restarting in ${delay} ms: ${describeError(error)}`),
            cause: error,
            isRetryable: true,
          }),
        );
        await sleep(delay, signal);
        delay = Math.min(delay * 2, 60_000);
      }
    }
  }
}
