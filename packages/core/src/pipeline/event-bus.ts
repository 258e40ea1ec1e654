import type { ObservedEvent } from '../contracts/observed-event.js';

export interface EventBusStats {
  capacity: number;
  depth: number;
  published: number;
  /** Events refused because the bus was full (offer) — counted, never silent. */
  dropped: number;
  consumed: number;
}

/**
 * A bounded FIFO between the sources and the pipeline.
 *
 * - `put()` waits for room: a source that can pause (a WebSocket, a file) is slowed down, which is
 *   back-pressure all the way to the socket.
 * - `offer()` never waits: a source that cannot pause (a webhook) gets `false` when full, and the
 *   drop is counted, so memory stays bounded under overload.
 * The ring buffer is preallocated: no allocation per event besides the event itself.
 */
export class EventBus implements AsyncIterable<ObservedEvent> {
  private readonly ring: Array<ObservedEvent | undefined>;
  private head = 0;
  private count = 0;
  private closed = false;
  private readonly waitingPutters: Array<() => void> = [];
  private waitingTaker: ((value: IteratorResult<ObservedEvent>) => void) | undefined;
  private published = 0;
  private dropped = 0;
  private consumed = 0;

  /** `onDrop` is told about each refused event (per-source drop counts). */
  constructor(
    readonly capacity = 10_000,
    private readonly onDrop?: (event: ObservedEvent) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`event bus capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array(capacity);
  }

  /** Adds an event without waiting; false (and a counted drop) when the bus is full or closed. */
  offer(event: ObservedEvent): boolean {
    if (this.closed || this.count === this.capacity) {
      this.drop(event);
      return false;
    }
    this.enqueue(event);
    return true;
  }

  /** Adds an event, waiting for room. Resolves false if the bus closed meanwhile. */
  async put(event: ObservedEvent): Promise<boolean> {
    while (!this.closed && this.count === this.capacity) {
      await new Promise<void>((resolve) => this.waitingPutters.push(resolve));
    }
    if (this.closed) {
      this.drop(event);
      return false;
    }
    this.enqueue(event);
    return true;
  }

  /** Takes the next event synchronously, or undefined when empty. */
  poll(): ObservedEvent | undefined {
    if (this.count === 0) return undefined;
    const event = this.ring[this.head]!;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.consumed++;
    this.waitingPutters.shift()?.();
    return event;
  }

  /** Stops accepting events; the iterator drains what is queued, then ends. */
  close(): void {
    this.closed = true;
    for (const wake of this.waitingPutters.splice(0)) wake();
    if (this.count === 0 && this.waitingTaker) {
      const taker = this.waitingTaker;
      this.waitingTaker = undefined;
      taker({ done: true, value: undefined });
    }
  }

  private drop(event: ObservedEvent): void {
    this.dropped++;
    this.onDrop?.(event);
  }

  stats(): EventBusStats {
    return { capacity: this.capacity, depth: this.count, published: this.published, dropped: this.dropped, consumed: this.consumed };
  }

  [Symbol.asyncIterator](): AsyncIterator<ObservedEvent> {
    return {
      next: () => {
        // Test the depth, not the event's truthiness: a malformed (null) event from a buggy source
        // must reach the pipeline to be counted, not vanish here.
        if (this.count > 0) return Promise.resolve({ done: false, value: this.poll()! });
        if (this.closed) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => {
          this.waitingTaker = resolve;
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  private enqueue(event: ObservedEvent): void {
    this.published++;
    if (this.waitingTaker && this.count === 0) {
      const taker = this.waitingTaker;
      this.waitingTaker = undefined;
      this.consumed++;
      taker({ done: false, value: event });
      return;
    }
    this.ring[(this.head + this.count) % this.capacity] = event;
    this.count++;
  }
}
