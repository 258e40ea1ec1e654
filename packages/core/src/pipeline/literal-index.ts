/**
 * An Aho–Corasick automaton over lowercase printable-ASCII literals: one pass over a line finds
 * every literal it contains, whatever the number of literals. Case is folded while scanning
 * (ASCII letters, plus the Kelvin sign and the long s, which fold to k and s), so the index is
 * sound for case-insensitive regexes too; any other character breaks a literal.
 *
 * When every literal is at least `MIN_SKIP_LENGTH` long, the pass skips (Wu–Manber): literals are
 * cut to the shortest one's length m, and the scan looks at the two characters ending a window of
 * m; a pair that ends no cut literal there moves the window by up to m - 1 characters without
 * reading the ones between, and the automaton runs only over windows whose last pair could end
 * one. Most lines are then read in a fraction of their characters. A cut literal is a prefix of
 * the literal, so it is present wherever the literal is: the index reports a superset of what
 * the uncut literals would, and the regex decides.
 */
/** Who hears of the literals a scan finds: one object with one method, so the call site keeps one target. */
export interface LiteralSink {
  /**
   * The id of a literal found (an id may repeat). With skipping, the id of a literal whose cut
   * prefix is found (the caller's regex then decides).
   */
  found(id: number): void;
}

const KELVIN_SIGN = 0x212a;
const LONG_S = 0x017f;
/** Literals at least this long let the scan skip; with a shorter one it reads every character. */
export const MIN_SKIP_LENGTH = 6;
/** Pairs of ASCII codes: the skip tables' size when indexed by the raw characters. */
const ASCII_PAIRS = 128 * 128;

/**
 * Builds the automaton. Each literal must be lowercase printable ASCII (what `requiredLiterals`
 * returns); `id` is the caller's number for it.
 */
export function createLiteralIndex(all: ReadonlyArray<{ literal: string; id: number }>, options: { skip?: boolean } = {}): LiteralIndex {
  for (const { literal } of all) {
    for (let index = 0; index < literal.length; index++) {
      const code = literal.charCodeAt(index);
      if (code >= 128 || (code >= 65 && code <= 90)) throw new Error(`literal ${JSON.stringify(literal)} is not lowercase ASCII`);
    }
  }
  const shortest = all.reduce((min, { literal }) => Math.min(min, literal.length), Number.POSITIVE_INFINITY);
  const skip = options.skip !== false && all.length > 0 && shortest >= MIN_SKIP_LENGTH;
  const literals = skip ? all.map(({ literal, id }) => ({ literal: literal.slice(0, shortest), id })) : all;
  // The alphabet: only characters that occur in some literal get a column; the rest map to 0.
  const symbolOf = new Uint8Array(128);
  let symbols = 1;
  for (const { literal } of literals) {
    for (let index = 0; index < literal.length; index++) {
      const code = literal.charCodeAt(index);
      if (symbolOf[code] === 0) symbolOf[code] = symbols++;
    }
  }
  for (let code = 65; code <= 90; code++) symbolOf[code] = symbolOf[code + 32]!;

  // Trie first, as growable arrays; then resolved into a dense transition table.
  const trie: number[][] = [new Array<number>(symbols).fill(-1)];
  const own: number[][] = [[]];
  for (const { literal, id } of literals) {
    let state = 0;
    for (let index = 0; index < literal.length; index++) {
      const symbol = symbolOf[literal.charCodeAt(index)]!;
      let next = trie[state]![symbol]!;
      if (next === -1) {
        next = trie.length;
        trie.push(new Array<number>(symbols).fill(-1));
        own.push([]);
        trie[state]![symbol] = next;
      }
      state = next;
    }
    own[state]!.push(id);
  }

  const count = trie.length;
  const table = new Int32Array(count * symbols);
  const fail = new Int32Array(count);
  // Nearest state along the failure chain that ends a literal (-1: none): the output links.
  const outputLink = new Int32Array(count).fill(-1);
  const queue: number[] = [];
  for (let symbol = 1; symbol < symbols; symbol++) {
    const child = trie[0]![symbol]!;
    if (child === -1) table[symbol] = 0;
    else {
      table[symbol] = child;
      queue.push(child);
    }
  }
  for (let head = 0; head < queue.length; head++) {
    const state = queue[head]!;
    const failure = fail[state]!;
    outputLink[state] = own[failure]!.length > 0 ? failure : outputLink[failure]!;
    for (let symbol = 1; symbol < symbols; symbol++) {
      const child = trie[state]![symbol]!;
      if (child === -1) table[state * symbols + symbol] = table[failure * symbols + symbol]!;
      else {
        table[state * symbols + symbol] = child;
        fail[child] = table[failure * symbols + symbol]!;
        queue.push(child);
      }
    }
  }
  const outputs: ReadonlyArray<readonly number[]> = own;
  // The scan's table: one row of `symbols` columns per state (only characters some literal has get
  // a column; the rest share column 0, the start state). A target where some literal ends (itself
  // or along its output links) is stored as its bitwise complement: the only states the scan stops
  // at. 16-bit cells while the states fit: the rows a line walks stay in the CPU's cache between
  // lines even when the rest of the pipeline streams through memory (a 128-column row of 32-bit
  // cells per state made the table of a 20-pattern catalog 400 KiB, and each line paid misses).
  const reports = (state: number) => own[state]!.length > 0 || outputLink[state] !== -1;
  const scanTable = count <= 0x7fff ? new Int16Array(count * symbols) : new Int32Array(count * symbols);
  for (let cell = 0; cell < table.length; cell++) {
    const target = table[cell]!;
    scanTable[cell] = target !== 0 && reports(target) ? ~target : target;
  }
  const kelvin = symbolOf[107]!;
  const longS = symbolOf[115]!;
  const bytes = scanTable.byteLength + symbolOf.byteLength + fail.byteLength + outputLink.byteLength + literals.length * 16;
  if (!skip) return new LiteralIndex({ symbolOf, symbols, kelvin, longS, scanTable, outputLink, outputs, bytes, m: 0 });

  // Wu–Manber with pairs: for the pair of symbols ending a window of m characters, how far the
  // window may move before a cut literal could end in it (m - 1 for a pair no literal has).
  const m = shortest;
  const shifts = new Uint8Array(symbols * symbols).fill(m - 1);
  // And the pairs a cut literal starts with: a window whose first pair is none of them is not run.
  const starts = new Uint8Array(symbols * symbols);
  for (const { literal } of literals) {
    starts[symbolOf[literal.charCodeAt(0)]! * symbols + symbolOf[literal.charCodeAt(1)]!] = 1;
    for (let index = 0; index + 1 < m; index++) {
      const pair = symbolOf[literal.charCodeAt(index)]! * symbols + symbolOf[literal.charCodeAt(index + 1)]!;
      shifts[pair] = Math.min(shifts[pair]!, m - 2 - index);
    }
  }
  // The same two tables indexed by the raw pair of ASCII codes (case folded in): a window ending
  // in two ASCII characters, nearly every window of a log line, costs one load instead of three.
  const asciiShifts = new Uint8Array(ASCII_PAIRS);
  const asciiStarts = new Uint8Array(ASCII_PAIRS);
  for (let first = 0; first < 128; first++) {
    for (let second = 0; second < 128; second++) {
      const pair = symbolOf[first]! * symbols + symbolOf[second]!;
      asciiShifts[(first << 7) | second] = shifts[pair]!;
      asciiStarts[(first << 7) | second] = starts[pair]!;
    }
  }
  const skipBytes = shifts.byteLength + starts.byteLength + asciiShifts.byteLength + asciiStarts.byteLength;
  return new LiteralIndex({ symbolOf, symbols, kelvin, longS, scanTable, outputLink, outputs, bytes: bytes + skipBytes, m, shifts, starts, asciiShifts, asciiStarts });
}

interface Tables {
  symbolOf: Uint8Array;
  symbols: number;
  kelvin: number;
  longS: number;
  scanTable: Int16Array | Int32Array;
  outputLink: Int32Array;
  outputs: ReadonlyArray<readonly number[]>;
  bytes: number;
  /** The window length when skipping, else 0. */
  m: number;
  shifts?: Uint8Array;
  starts?: Uint8Array;
  /** `shifts` and `starts` for a pair of ASCII codes `a`, `b`, at `(a << 7) | b`. */
  asciiShifts?: Uint8Array;
  asciiStarts?: Uint8Array;
}

/**
 * The index's tables and its scan. A class rather than closures made per index: a new matcher
 * (a catalog reload) keeps every call site of `scan` and `found` on one target, so the code V8
 * optimised for the previous one stays valid.
 */
export class LiteralIndex {
  /** Automaton states, for the memory figures. */
  readonly states: number;
  /** Bytes held by the index's tables (approximate). */
  readonly bytes: number;
  private readonly symbolOf: Uint8Array;
  private readonly symbols: number;
  private readonly kelvin: number;
  private readonly longS: number;
  private readonly scanTable: Int16Array | Int32Array;
  private readonly outputLink: Int32Array;
  private readonly outputs: ReadonlyArray<readonly number[]>;
  private readonly m: number;
  private readonly shifts: Uint8Array;
  private readonly starts: Uint8Array;
  private readonly asciiShifts: Uint8Array;
  private readonly asciiStarts: Uint8Array;

  constructor(tables: Tables) {
    this.states = tables.outputLink.length;
    this.bytes = tables.bytes;
    this.symbolOf = tables.symbolOf;
    this.symbols = tables.symbols;
    this.kelvin = tables.kelvin;
    this.longS = tables.longS;
    this.scanTable = tables.scanTable;
    this.outputLink = tables.outputLink;
    this.outputs = tables.outputs;
    this.m = tables.m;
    this.shifts = tables.shifts ?? new Uint8Array(0);
    this.starts = tables.starts ?? new Uint8Array(0);
    this.asciiShifts = tables.asciiShifts ?? new Uint8Array(0);
    this.asciiStarts = tables.asciiStarts ?? new Uint8Array(0);
  }

  /** Tells `sink` of every literal `text` contains. */
  scan(text: string, sink: LiteralSink): void {
    const { m, asciiShifts, asciiStarts } = this;
    const length = text.length;
    if (m === 0) {
      this.run(text, 0, length, sink);
      return;
    }
    let end = m - 1;
    while (end < length) {
      const before = text.charCodeAt(end - 1);
      const last = text.charCodeAt(end);
      const shift = (before | last) < 128 ? asciiShifts[(before << 7) | last]! : this.pairShift(before, last);
      if (shift !== 0) {
        end += shift;
        continue;
      }
      // Every cut literal is m long: one found in this window starts at `start` and ends at `end`.
      const start = end - m + 1;
      const first = text.charCodeAt(start);
      const second = text.charCodeAt(start + 1);
      if (((first | second) < 128 ? asciiStarts[(first << 7) | second]! : this.pairStart(first, second)) === 1) this.run(text, start, end + 1, sink);
      end++;
    }
  }

  /** `shifts` for a pair with a character outside ASCII (folded: the Kelvin sign and the long s are letters). */
  private pairShift(before: number, last: number): number {
    return this.shifts[this.fold(before) * this.symbols + this.fold(last)]!;
  }

  /** `starts` for a pair with a character outside ASCII. */
  private pairStart(first: number, second: number): number {
    return this.starts[this.fold(first) * this.symbols + this.fold(second)]!;
  }

  /** A character's column: ASCII through the table; the Kelvin sign and the long s fold to k and s; any other, column 0. */
  private fold(code: number): number {
    return code < 128 ? this.symbolOf[code]! : code === KELVIN_SIGN ? this.kelvin : code === LONG_S ? this.longS : 0;
  }

  /** Runs the automaton over text[from, to), telling `sink` of every literal ending in it. */
  private run(text: string, from: number, to: number, sink: LiteralSink): void {
    const { scanTable, outputLink, outputs, symbols } = this;
    let state = 0;
    for (let index = from; index < to; index++) {
      const next = scanTable[state * symbols + this.fold(text.charCodeAt(index))]!;
      if (next >= 0) {
        state = next;
        continue;
      }
      state = ~next;
      for (let found = state; found !== -1; found = outputLink[found]!) {
        const ids = outputs[found]!;
        for (let at = 0; at < ids.length; at++) sink.found(ids[at]!);
      }
    }
  }
}
