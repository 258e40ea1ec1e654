/**
 * A bounded hand-off between a producer (a socket, HTTP pages, a webhook) and one async-iterator
 * consumer. The producer never blocks the event loop: it asks `isFull()` (or `hasRoomFor(n)`) and
 * pauses its own reading or refuses the request, or awaits `waitForSpace()`; the consumer awaits
 * `waitForItem()` and then `shift()`s.
 */
export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private takers: Array<() => void> = [];
  private spaceWaiters: Array<() => void> = [];

  constructor(
    readonly capacity: number,
    private readonly onDrained?: () => void,
  ) {}

  get size(): number {
    return this.items.length;
  }

  isFull(): boolean {
    return this.items.length >= this.capacity;
  }

  /** Whether `count` more items fit without going over the capacity (a webhook with N alerts). */
  hasRoomFor(count: number): boolean {
    return this.items.length + count <= this.capacity;
  }

  /** Adds an item even when full (the producer already paused its source): the overshoot is bounded by one frame. */
  push(item: T): void {
    this.items.push(item);
    const takers = this.takers;
    this.takers = [];
    for (const wake of takers) wake();
  }

  shift(): T | undefined {
    const item = this.items.shift();
    if (item !== undefined && this.items.length <= this.capacity / 2) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const wake of waiters) wake();
      this.onDrained?.();
    }
    return item;
  }

  /** Resolves when an item is available or the signal aborts. */
  waitForItem(signal: AbortSignal): Promise<void> {
    if (this.items.length > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.takers.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Resolves when the queue is at most half full or the signal aborts. */
  waitForSpace(signal: AbortSignal): Promise<void> {
    if (this.items.length < this.capacity || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.spaceWaiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
