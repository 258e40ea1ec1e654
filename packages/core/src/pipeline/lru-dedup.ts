/**
 * Remembers the last `capacity` event ids and says whether an id was seen: a least-recently-used
 * set. Slots live in preallocated arrays linked into a recency list (head = oldest), with a Map
 * from id to slot: check, insert, refresh and eviction are O(1) and allocate nothing per event.
 * (A Map alone, evicting with `keys().next()`, slows down as deleted entries pile up at its front.)
 */
export class LruDedup {
  private readonly slotOf = new Map<string, number>();
  private readonly ids: Array<string | undefined>;
  private readonly previous: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private used = 0;
  private duplicateCount = 0;
  private evictionCount = 0;

  /** @param capacity how many ids are remembered. @default 10_000 */
  constructor(readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`dedup capacity must be a positive integer, got ${capacity}`);
    this.ids = new Array(capacity);
    this.previous = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  /** True when the id is new (and remembers it); false for a duplicate (and refreshes it). */
  admit(id: string): boolean {
    const existing = this.slotOf.get(id);
    if (existing !== undefined) {
      this.duplicateCount++;
      if (existing !== this.tail) {
        this.unlink(existing);
        this.append(existing);
      }
      return false;
    }
    let slot: number;
    if (this.used < this.capacity) {
      slot = this.used++;
    } else {
      slot = this.head;
      this.unlink(slot);
      this.slotOf.delete(this.ids[slot]!);
      this.evictionCount++;
    }
    this.ids[slot] = id;
    this.slotOf.set(id, slot);
    this.append(slot);
    return true;
  }

  has(id: string): boolean {
    return this.slotOf.has(id);
  }

  get size(): number {
    return this.slotOf.size;
  }

  get duplicates(): number {
    return this.duplicateCount;
  }

  get evictions(): number {
    return this.evictionCount;
  }

  private unlink(slot: number): void {
    const before = this.previous[slot]!;
    const after = this.next[slot]!;
    if (before === -1) this.head = after;
    else this.next[before] = after;
    if (after === -1) this.tail = before;
    else this.previous[after] = before;
  }

  private append(slot: number): void {
    this.previous[slot] = this.tail;
    this.next[slot] = -1;
    if (this.tail === -1) this.head = slot;
    else this.next[this.tail] = slot;
    this.tail = slot;
  }
}
