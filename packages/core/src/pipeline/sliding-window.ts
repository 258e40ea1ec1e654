/**
 * Counts events per key within a sliding time window: an event at time t is in the window
 * ending at `now` when `now - windowMs < t <= now`. Timestamps of one key are kept in order in a
 * small array and pruned from the front, so memory per key is bounded by the events in one window
 * (and capped by `maxPerKey`), and idle keys are swept. Keys are strings or numbers (a caller on
 * the hot path names its streams by number rather than build a key string per event).
 */
export class SlidingWindowCounter<Key extends string | number = string> {
  private readonly windows = new Map<Key, number[]>();

  constructor(
    private readonly maxPerKey = 1_000,
    private readonly maxKeys = 50_000,
  ) {}

  /**
   * Records an event and returns how many events of this key are in the window ending at the
   * newest event seen for the key (`time`, unless a newer event was already recorded: a late event
   * is counted with its neighbours, never used to move the window back in time).
   */
  add(key: Key, time: number, windowMs: number): number {
    let times = this.windows.get(key);
    if (!times) {
      if (this.windows.size >= this.maxKeys) this.sweep(time, windowMs);
      times = [];
      this.windows.set(key, times);
    }
    // Events can arrive slightly out of order: insert in place (usually at the end).
    let index = times.length;
    while (index > 0 && times[index - 1]! > time) index--;
    // push and shift rather than splice: splice allocates the array of what it removed, per event.
    if (index === times.length) times.push(time);
    else times.splice(index, 0, time);
    this.prune(times, times[times.length - 1]!, windowMs);
    if (times.length > this.maxPerKey) dropFront(times, times.length - this.maxPerKey);
    return times.length;
  }

  /** Events of this key in the window ending at `time`, without recording anything. */
  count(key: Key, time: number, windowMs: number): number {
    const times = this.windows.get(key);
    if (!times) return 0;
    let count = 0;
    for (const at of times) if (at > time - windowMs && at <= time) count++;
    return count;
  }

  reset(key: Key): void {
    this.windows.delete(key);
  }

  get keys(): number {
    return this.windows.size;
  }

  /** Drops keys whose newest event is older than the window. */
  sweep(now: number, windowMs: number): void {
    for (const [key, times] of this.windows) {
      if (times.length === 0 || times[times.length - 1]! <= now - windowMs) this.windows.delete(key);
    }
    // Still full (many keys active at once): drop the oldest-inserted keys rather than grow.
    while (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as Key);
  }

  private prune(times: number[], now: number, windowMs: number): void {
    let drop = 0;
    while (drop < times.length && times[drop]! <= now - windowMs) drop++;
    if (drop > 0) dropFront(times, drop);
  }
}

/** Removes the first `count` items (one: `shift`, which allocates nothing). */
function dropFront(times: number[], count: number): void {
  if (count === 1) times.shift();
  else times.splice(0, count);
}

/**
 * "Metric above threshold for D": true once the condition has held continuously for `forMs`.
 * A false observation resets it, like a Prometheus rule's `for:`.
 */
export class SustainedCondition {
  private readonly since = new Map<string, number>();

  observe(key: string, holds: boolean, time: number, forMs: number): boolean {
    if (!holds) {
      this.since.delete(key);
      return false;
    }
    const start = this.since.get(key);
    if (start === undefined) {
      this.since.set(key, time);
      return forMs <= 0;
    }
    return time - start >= forMs;
  }
}
