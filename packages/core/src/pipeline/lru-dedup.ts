/**
 * Remembers the last `capacity` event ids and says whether an id was seen. A Map keeps insertion
 * order, so the oldest id is the first key: O(1) check, insert and eviction.
 */
export class LruDedup {
  private readonly seen = new Map<string, true>();
  private duplicateCount = 0;
  private evictionCount = 0;

  /** @param capacity how many ids are remembered. @default 10_000 */
  constructor(readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`dedup capacity must be a positive integer, got ${capacity}`);
  }

  /** True when the id is new (and remembers it); false for a duplicate (and refreshes it). */
  admit(id: string): boolean {
    if (this.seen.has(id)) {
      this.seen.delete(id);
      this.seen.set(id, true);
      this.duplicateCount++;
      return false;
    }
    this.seen.set(id, true);
    if (this.seen.size > this.capacity) {
      this.seen.delete(this.seen.keys().next().value as string);
      this.evictionCount++;
    }
    return true;
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  get size(): number {
    return this.seen.size;
  }

  get duplicates(): number {
    return this.duplicateCount;
  }

  get evictions(): number {
    return this.evictionCount;
  }
}
