/**
 * Remembers the last `capacity` event ids and says whether an id was seen: a least-recently-used
 * set, on the hot path of every event. An id is remembered as two independent seeded 32-bit hashes
 * (64 bits: a false duplicate among 10,000 ids is about one chance in 10^15 per event), never as
 * the string itself. Slots live in preallocated typed arrays linked into a recency list (head =
 * oldest) and are found through an open-addressing table (linear probing, at most half full,
 * backward-shift deletion) whose cells hold the slot and the id's first hash side by side: a probe
 * and a shift read one cache line, not the slot arrays at random. Check, insert, refresh and eviction are O(1) and allocate nothing: a
 * Map keyed by the id string did the same work several times slower, and keeping every id alive
 * for 10,000 events made each of them garbage for the old generation.
 */
export class LruDedup {
  private readonly hashes: Int32Array;
  private readonly checks: Int32Array;
  private readonly previous: Int32Array;
  private readonly next: Int32Array;
  /** Per position two cells: slot + 1 of the id hashed there (0 = empty), then that id's hash. */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** Per instance, so ids cannot be crafted to collide. */
  private readonly seed = (Math.random() * 0x1_0000_0000) | 0;
  private readonly checkSeed = (Math.random() * 0x1_0000_0000) | 0;
  /** The second hash of the id last hashed (set by `hash`). */
  private check = 0;
  private head = -1;
  private tail = -1;
  private used = 0;
  private duplicateCount = 0;
  private evictionCount = 0;

  /** @param capacity how many ids are remembered. @default 10_000 */
  constructor(readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`dedup capacity must be a positive integer, got ${capacity}`);
    this.hashes = new Int32Array(capacity);
    this.checks = new Int32Array(capacity);
    this.previous = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.table = new Int32Array(size * 2);
    this.mask = size - 1;
  }

  /** True when the id is new (and remembers it); false for a duplicate (and refreshes it). */
  admit(id: string): boolean {
    const hash = this.hash(id);
    const check = this.check;
    const existing = this.find(hash, check);
    if (existing !== -1) {
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
      this.remove(slot);
      this.evictionCount++;
    }
    this.hashes[slot] = hash;
    this.checks[slot] = check;
    const { table, mask } = this;
    let position = hash & mask;
    while (table[position << 1] !== 0) position = (position + 1) & mask;
    table[position << 1] = slot + 1;
    table[(position << 1) | 1] = hash;
    this.append(slot);
    return true;
  }

  has(id: string): boolean {
    const hash = this.hash(id);
    return this.find(hash, this.check) !== -1;
  }

  get size(): number {
    return this.used;
  }

  get duplicates(): number {
    return this.duplicateCount;
  }

  get evictions(): number {
    return this.evictionCount;
  }

  /**
   * Two hashes of the UTF-16 code units in one pass: seeded FNV-1a (returned, it places the id in
   * the table) and a seeded rotate-multiply hash (left in `check`), each finished with murmur3's
   * avalanche step.
   */
  private hash(id: string): number {
    let hash = 0x811c9dc5 ^ this.seed;
    let check = 0x9e3779b9 ^ this.checkSeed;
    for (let index = 0; index < id.length; index++) {
      const code = id.charCodeAt(index);
      hash = Math.imul(hash ^ code, 0x01000193);
      check = Math.imul(((check << 5) | (check >>> 27)) ^ code, 0x5bd1e995);
    }
    this.check = avalanche(check ^ id.length);
    return avalanche(hash);
  }

  /** The slot holding the id with these hashes, or -1. */
  private find(hash: number, check: number): number {
    const { table, mask } = this;
    let position = hash & mask;
    for (let entry = table[position << 1]!; entry !== 0; entry = table[position << 1]!) {
      if (table[(position << 1) | 1] === hash && this.checks[entry - 1] === check) return entry - 1;
      position = (position + 1) & mask;
    }
    return -1;
  }

  /** Takes a slot's id out of the table, moving later entries of its probe run back (no tombstones). */
  private remove(slot: number): void {
    const { table, mask } = this;
    let position = this.hashes[slot]! & mask;
    while (table[position << 1] !== slot + 1) position = (position + 1) & mask;
    let hole = position;
    for (let scan = (hole + 1) & mask; table[scan << 1] !== 0; scan = (scan + 1) & mask) {
      const hash = table[(scan << 1) | 1]!;
      const home = hash & mask;
      // The entry at `scan` may move into the hole unless its home lies cyclically in (hole, scan].
      const stays = hole <= scan ? home > hole && home <= scan : home > hole || home <= scan;
      if (!stays) {
        table[hole << 1] = table[scan << 1]!;
        table[(hole << 1) | 1] = hash;
        hole = scan;
      }
    }
    table[hole << 1] = 0;
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

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function avalanche(value: number): number {
  let hash = value ^ (value >>> 16);
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}
