/**
 * Joins the continuation lines of a multi-line message into one event, per stream: docker and
 * journald hand a Java stack trace, a Go panic, Redis's configuration-error block or the
 * postgres:18 entrypoint's message over one line at a time. Sources push lines as they come and
 * get back whole messages (lines joined by `\n`), each bounded in lines and characters.
 */
export interface ContinuationJoinerOptions {
  /** Lines in one joined message; further continuation lines start a new message. @default 200 */
  maxLines?: number;
  /** Characters in one joined message; the rest is cut (counted). @default 16384 */
  maxLength?: number;
  /** Streams with a message in progress; past it the oldest is flushed. @default 1000 */
  maxStreams?: number;
}

/** One message in progress or completed: the first line's metadata, the joined text. */
export interface JoinedMessage<Meta> {
  stream: string;
  meta: Meta;
  message: string;
  lines: number;
  /** The metadata of every line pushed into the message, first to last (also those cut off): what processing the message covers. */
  metas: Meta[];
}

export interface ContinuationJoiner<Meta> {
  /** Adds a line; returns the messages it completed (at most the stream's previous one). */
  push(stream: string, line: string, meta: Meta): Array<JoinedMessage<Meta>>;
  /** Completes the messages whose last line came before `before` (a clock time, ms). */
  flushIdle(before: number): Array<JoinedMessage<Meta>>;
  /** Completes every message in progress. */
  flushAll(): Array<JoinedMessage<Meta>>;
  /** The first line's metadata of every message in progress, oldest first (what a saved read position must not pass). */
  inProgress(): Meta[];
  stats(): { joinedLines: number; cutMessages: number; pending: number };
}

// Java / JVM: frames are indented ("\tat ..."), causes and suppressed exceptions are not always.
const JAVA_CONTINUATION = /^(Caused by: |Suppressed: |\s*\.\.\. \d+ (more|common frames omitted))/;
// Go runtime panics and fatal errors: src/runtime/panic.go and traceback.go print a blank line,
// "[signal ...]", "goroutine N [state]:", then function lines and tab-indented file lines.
// A fault first prints "unexpected fault address 0x..." (runtime/signal_unix.go), then "fatal error: fault".
const GO_START = /^(panic: |fatal error: |unexpected fault address )/;
const GO_CONTINUATION = /^(\[signal |fatal error: |goroutine \d+ .*\]:?$|runtime stack:$|created by |exit status \d+$|[\w./-][^\s(]*\(.*\)$)/;
// Rust (std::panicking, 1.73+): "thread 'x' panicked at file:line:col:" then the message line,
// "note: run with `RUST_BACKTRACE=1`...", "stack backtrace:" and indented frames.
const RUST_PANIC = /^thread '[^']*' panicked at .*:$/;
const RUST_CONTINUATION = /^(note: run with `RUST_BACKTRACE=|stack backtrace:$|note: Some details are omitted)/;
// Redis, src/config.c loadServerConfigFromString (label loaderr): after the header, "Reading the
// configuration file, at line N", ">>> '<line>'", then the reason on one line.
const REDIS_HEADER = /^\*\*\* FATAL CONFIG FILE ERROR \(Redis [^)]*\) \*\*\*$/;
const REDIS_CONTINUATION = /^(Reading the configuration file, at line \d+$|>>> ')/;
const REDIS_QUOTED_LINE = /^>>> '/;

// `docker compose logs` prefixes ("db-1  | ") and journalctl's short format ("Apr 20 08:45:00 host
// prog[pid]: ") come before each line of a block; continuation is decided on what follows them.
const LINE_PREFIX = /^(?:[\w.-]+-\d+ +\| ?|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:[]+(?:\[\d+\])?: )/;

/** What continuation is decided on: the line without its prefix, and only its start (bounded work per line). */
function withoutPrefix(line: string): string {
  const head = line.length > 1024 ? line.slice(0, 1024) : line;
  const prefix = LINE_PREFIX.exec(head);
  return prefix ? head.slice(prefix[0].length) : head;
}

/**
 * Whether `line` continues the message whose first line is `first` and last line is `previous`.
 * Indented lines continue any message, blank lines are kept inside one (trimmed at its end).
 */
export function isContinuation(firstLine: string, previousLine: string, nextLine: string): boolean {
  return continues(withoutPrefix(firstLine), withoutPrefix(previousLine), withoutPrefix(nextLine));
}

/** `isContinuation` on lines already without their prefix (a message keeps its first and last line's). */
function continues(first: string, previous: string, line: string): boolean {
  if (line.trim() === '') return true;
  if (/^[ \t]/.test(line)) return true;
  if (JAVA_CONTINUATION.test(line)) return true;
  if (GO_START.test(first) && GO_CONTINUATION.test(line)) return true;
  if (RUST_PANIC.test(first) && (RUST_PANIC.test(previous) || RUST_CONTINUATION.test(line))) return true;
  if (REDIS_HEADER.test(first) && (REDIS_CONTINUATION.test(line) || REDIS_QUOTED_LINE.test(previous))) return true;
  return false;
}

interface Pending<Meta> {
  meta: Meta;
  metas: Meta[];
  /** The first and the last line, without their prefix: what the next line is held against. */
  first: string;
  previous: string;
  parts: string[];
  length: number;
  cut: boolean;
  lastAt: number;
}

/** Creates a joiner; `now` tells when a line arrived, for `flushIdle`. */
export function createContinuationJoiner<Meta>(options: ContinuationJoinerOptions & { now: () => number }): ContinuationJoiner<Meta> {
  const maxLines = options.maxLines ?? 200;
  const maxLength = options.maxLength ?? 16_384;
  const maxStreams = options.maxStreams ?? 1000;
  const pending = new Map<string, Pending<Meta>>();
  const counters = { joinedLines: 0, cutMessages: 0 };

  const complete = (stream: string, item: Pending<Meta>): JoinedMessage<Meta> => {
    while (item.parts.length > 1 && item.parts[item.parts.length - 1]!.trim() === '') item.parts.pop();
    if (item.cut) counters.cutMessages++;
    return { stream, meta: item.meta, message: item.parts.join('\n'), lines: item.parts.length, metas: item.metas };
  };

  return {
    push(stream, line, meta) {
      const out: Array<JoinedMessage<Meta>> = [];
      const current = pending.get(stream);
      const body = withoutPrefix(line);
      if (current && current.parts.length < maxLines && continues(current.first, current.previous, body)) {
        counters.joinedLines++;
        current.metas.push(meta);
        current.previous = body;
        current.lastAt = options.now();
        if (current.length + 1 + line.length > maxLength) current.cut = true;
        if (!current.cut) {
          current.parts.push(line);
          current.length += 1 + line.length;
        }
        return out;
      }
      if (current) {
        pending.delete(stream);
        out.push(complete(stream, current));
      }
      // A message never starts with a blank line.
      if (line.trim() === '') return out;
      const cut = line.length > maxLength;
      pending.set(stream, { meta, metas: [meta], first: body, previous: body, parts: [cut ? line.slice(0, maxLength) : line], length: Math.min(line.length, maxLength), cut, lastAt: options.now() });
      if (pending.size > maxStreams) {
        const [oldest, item] = pending.entries().next().value as [string, Pending<Meta>];
        pending.delete(oldest);
        out.push(complete(oldest, item));
      }
      return out;
    },
    flushIdle(before) {
      const out: Array<JoinedMessage<Meta>> = [];
      for (const [stream, item] of pending) {
        if (item.lastAt < before) {
          pending.delete(stream);
          out.push(complete(stream, item));
        }
      }
      return out;
    },
    flushAll() {
      const out = [...pending].map(([stream, item]) => complete(stream, item));
      pending.clear();
      return out;
    },
    inProgress: () => [...pending.values()].map((item) => item.meta),
    stats: () => ({ ...counters, pending: pending.size }),
  };
}
