/**
 * The work the engine started and must wait for: incident handling and executions (`track`),
 * and the long-lived source pumps and bus consumer (`trackLoop`, not counted as work by idle()).
 * A tracked promise never rejects: its error goes to `onError`, so one failure never stops the loop.
 */
export class TaskTracker {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly loops = new Set<Promise<unknown>>();

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Tracks a piece of work; resolves to undefined if it fails (the error is reported). */
  track<T>(promise: Promise<T>): Promise<T> {
    const tracked = promise.catch((error: unknown) => {
      this.onError(error);
      return undefined as T;
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    return tracked;
  }

  /** Tracks a long-lived loop (a source pump, the bus consumer). */
  trackLoop(promise: Promise<void>): void {
    const tracked = promise.catch((error: unknown) => this.onError(error));
    this.loops.add(tracked);
    void tracked.finally(() => this.loops.delete(tracked));
  }

  /** How many pieces of work (not loops) are running. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Settles once everything tracked right now (work and loops) has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight, ...this.loops]);
  }

  /** Waits until nothing is tracked any more, including work started while waiting. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0 || this.loops.size > 0) await this.settled();
  }
}

/** A plugin the engine may close: anything with an optional `close()` and, for messages, a `name`. */
interface Closable {
  readonly name?: string;
  close?(): Promise<void>;
}

/**
 * Closes what an engine was handed when it owns it (`own: true`): the sources first (no new
 * events), then the notifier, the executor and the drafting LLM, and the audit store last (the
 * others may still write to it while closing). One failing close is logged; the rest still close.
 */
export async function closeOwned(
  plugins: { sources: readonly Closable[]; notifier: Closable; executor: Closable; audit: Closable; draftPatterns?: { llm: Closable } | undefined },
  logger: { warn(message: string): void },
): Promise<void> {
  const order = new Set<Closable>([...plugins.sources, plugins.notifier, plugins.executor, ...(plugins.draftPatterns ? [plugins.draftPatterns.llm] : []), plugins.audit]);
  for (const plugin of order) {
    try {
      await plugin.close?.();
    } catch (error) {
      logger.warn(`closing ${plugin.name ?? 'a plugin'} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
