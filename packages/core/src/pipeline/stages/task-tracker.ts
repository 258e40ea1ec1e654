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
