import { hash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { EventLevel } from '../contracts/observed-event.js';
import type { Source, SourceHealth } from '../contracts/source.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { parseOptions } from '../plugin-utils/options.js';
import type { PluginStateStore } from '../contracts/state-store.js';
import { loadFilePosition, type FilePosition } from './file-position.js';
import { createContinuationJoiner, type JoinedMessage } from '../pipeline/continuation-joiner.js';

export const FileSourceOptionsSchema = z.strictObject({
  /** The file to read: one JSON object per line (`jsonl`) or plain text lines (`text`). */
  path: z.string().min(1),
  format: z.enum(['jsonl', 'text']).default('jsonl'),
  /** Keep reading lines appended to the file (like `tail -F`). @default false */
  follow: z.boolean().default(false),
  /**
   * Where to begin: `beginning` replays the file (the demo, a one-off check); `end` reads only
   * lines appended from now on, like `tail -F` (production: old lines are not new evidence).
   * @default 'beginning'
   */
  startAt: z.enum(['beginning', 'end']).default('beginning'),
  /** Poll interval when following. @default 500 */
  pollIntervalMs: z.number().int().positive().default(500),
  /** Host/service for lines that do not say. */
  defaultHost: z.string().default('localhost'),
  defaultService: z.string().default('unknown'),
  /** After a restart, the most a saved position is behind the end of the file; older bytes are skipped (counted). @default 64 MiB */
  maxBackfillBytes: z.number().int().positive().default(64 * 1024 * 1024),
  /** Delay between lines when replaying (ms); 0 replays as fast as the pipeline takes them. */
  replayDelayMs: z.number().nonnegative().default(0),
  /**
   * Join continuation lines (indented lines, `Caused by:`, Go/Rust/Java stack traces, Redis's
   * configuration-error block) of one host and service into one event. `false` turns it off.
   */
  multiline: z
    .union([
      z.literal(false),
      z.strictObject({
        /** Lines in one event. @default 200 */
        maxLines: z.number().int().positive().default(200),
        /** Characters in one event; the rest is cut (counted in `cutEvents`). @default 16384 */
        maxLength: z.number().int().positive().default(16_384),
        /** A message is complete when its stream has been quiet this long (ms). @default 1000 */
        waitMs: z.number().int().nonnegative().default(1000),
      }),
    ])
    .default({ maxLines: 200, maxLength: 16_384, waitMs: 1000 }),
});
export type FileSourceOptions = z.input<typeof FileSourceOptionsSchema>;

const JsonLine = z
  .object({
    message: z.string().optional(),
    msg: z.string().optional(),
    line: z.string().optional(),
    time: z.union([z.string(), z.number()]).optional(),
    timestamp: z.union([z.string(), z.number()]).optional(),
    host: z.string().optional(),
    service: z.string().optional(),
    level: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();

const LEVEL_ALIASES: Record<string, z.infer<typeof EventLevel>> = {
  debug: 'debug', trace: 'debug', info: 'info', notice: 'info', information: 'info',
  warn: 'warn', warning: 'warn', error: 'error', err: 'error',
  critical: 'critical', crit: 'critical', fatal: 'critical', panic: 'critical', emerg: 'critical', alert: 'critical',
};

export function normaliseLevel(level: string | undefined): z.infer<typeof EventLevel> {
  return (level && LEVEL_ALIASES[level.toLowerCase()]) || 'unknown';
}

function parseTime(value: string | number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value > 1e14 ? Math.floor(value / 1e6) : value > 1e11 ? value : value * 1000;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? fallback : parsed;
}

/**
 * Reads events from a file: the built-in, dependency-free source the demo uses, and the
 * reference Source implementation. A line that is not valid is counted in `invalid` and skipped:
 * one bad line never stops the loop.
 */
export function createFileSource(input: FileSourceOptions, context: { name?: string; clock?: Clock; logger?: Logger; position?: PluginStateStore } = {}): Source {
  const options = parseOptions(FileSourceOptionsSchema, input, 'file');
  const name = context.name ?? 'file';
  const clock = context.clock ?? systemClock;
  const logger = context.logger ?? silentLogger;
  const counters = { lines: 0, events: 0, invalid: 0, joinedLines: 0, cutEvents: 0, backfillExceeded: 0, rotatedWhileDown: 0 };
  const positionKey = `file-position-${name}`;
  const joiner = options.multiline === false ? undefined : createContinuationJoiner<ObservedEvent>({ ...options.multiline, now: () => performance.now() });
  const joined = (messages: Array<JoinedMessage<ObservedEvent>>): ObservedEvent[] => {
    if (joiner) Object.assign(counters, { joinedLines: joiner.stats().joinedLines, cutEvents: joiner.stats().cutMessages });
    counters.events += messages.length;
    return messages.map(({ meta, message }) => (message === meta.message ? meta : { ...meta, message }));
  };
  let state: SourceHealth['state'] = 'down';
  let detail = 'not started';

  function toEvent(text: string, lineNumber: number): ObservedEvent | undefined {
    // One-shot hash (several times faster per line than a Hash object); the same bytes, so the same ids.
    const id = hash('sha1', `${options.path}\0${lineNumber}\0${text}`, 'base64url');
    if (options.format === 'text') {
      return { id, kind: 'log', source: name, time: clock.now(), host: options.defaultHost, service: options.defaultService, level: 'unknown', message: text, labels: {} };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      counters.invalid++;
      logger.warn(`${name}: line ${lineNumber} of ${options.path} is not JSON; skipped`);
      return undefined;
    }
    const parsed = JsonLine.safeParse(raw);
    const message = parsed.success ? (parsed.data.message ?? parsed.data.msg ?? parsed.data.line) : undefined;
    if (!parsed.success || message === undefined) {
      counters.invalid++;
      logger.warn(`${name}: line ${lineNumber} of ${options.path} has no "message" string; skipped`);
      return undefined;
    }
    const line = parsed.data;
    return {
      id,
      kind: 'log',
      source: name,
      time: parseTime(line.time ?? line.timestamp, clock.now()),
      host: line.host ?? options.defaultHost,
      service: line.service ?? options.defaultService,
      level: normaliseLevel(line.level),
      message,
      labels: line.labels ?? {},
    };
  }

  return {
    specificationVersion: 'v1',
    name,
    async *events(signal: AbortSignal): AsyncGenerator<ObservedEvent> {
      // One reader for the first pass and for following: bytes from `position` to the end of the
      // file, split on newlines. A last line without its newline is held back while following
      // (the writer may be in the middle of it) and read at the end otherwise. `position` always
      // counts the bytes really consumed, so following never re-reads or skips a byte.
      let position = 0;
      let lineNumber = 0;
      // Where the last complete line ends, and which file it was (inode), for the saved position.
      let saved: FilePosition | undefined;
      let skipPartialLine = false;
      const resumed = context.position ? await loadFilePosition(context.position, positionKey, options.path, options.maxBackfillBytes, logger) : undefined;
      if (resumed) {
        ({ position, lineNumber, skipPartialLine } = resumed);
        if (resumed.exceeded) counters.backfillExceeded++;
        if (resumed.rotated) counters.rotatedWhileDown++;
        saved = resumed.saved;
      } else if (options.startAt === 'end') {
        try {
          position = (await stat(options.path)).size;
        } catch {
          position = 0; // not there yet: everything it will hold is new
        }
      }
      let lastStream: string | undefined;
      let remainder = '';
      let decoder = new StringDecoder('utf8');
      state = 'connected';
      detail = `reading ${options.path}`;
      const emit = function* (text: string): Generator<ObservedEvent> {
        lineNumber++;
        if (skipPartialLine) {
          // Reading resumed inside a line (the gap was longer than maxBackfillBytes).
          skipPartialLine = false;
          return;
        }
        const line = text.endsWith('\r') ? text.slice(0, -1) : text;
        if (line.trim() === '') return;
        counters.lines++;
        const event = toEvent(line, lineNumber);
        if (!event) return;
        if (!joiner) {
          counters.events++;
          yield event;
          return;
        }
        // One message in progress at a time, so events keep the file's order: a line of another
        // host or service completes the one in progress.
        const stream = `${event.host}\0${event.service}`;
        if (stream !== lastStream) yield* joined(joiner.flushAll());
        lastStream = stream;
        yield* joined(joiner.push(stream, event.message, event));
      };
      try {
        let first = true;
        while (!signal.aborted) {
          if (!first) {
            await sleep(options.pollIntervalMs, signal);
            if (signal.aborted) return;
          }
          let size: number;
          try {
            const info = await stat(options.path);
            size = info.size;
            // The first position is saved at once: a restart before any new line resumes from here, not from the end.
            if (context.position && !saved && size >= position) {
              saved = { inode: info.ino, offset: position, line: lineNumber };
              await savePosition(context.position, positionKey, saved, logger);
            }
          } catch (error) {
            if (first && !options.follow) throw error;
            state = 'reconnecting';
            detail = `${options.path} is missing; waiting for it`;
            first = false;
            continue;
          }
          state = 'connected';
          detail = `reading ${options.path}`;
          if (size < position) {
            // Truncated (rotated by copytruncate): start again from the top.
            position = 0;
            remainder = '';
            decoder = new StringDecoder('utf8');
          }
          if (size > position) {
            const handle = await open(options.path, 'r');
            try {
              const inode = (await handle.stat()).ino;
              const buffer = Buffer.alloc(Math.min(CHUNK_BYTES, size - position));
              while (position < size && !signal.aborted) {
                const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
                if (bytesRead === 0) break;
                const chunkStart = position;
                position += bytesRead;
                const chunk = buffer.subarray(0, bytesRead);
                const parts = (remainder + decoder.write(chunk)).split('\n');
                remainder = parts.pop() ?? '';
                for (const text of parts) {
                  for (const event of emit(text)) {
                    yield event;
                    if (signal.aborted) return;
                    if (options.replayDelayMs > 0) await sleep(options.replayDelayMs, signal);
                  }
                }
                // A newline byte never occurs inside a UTF-8 sequence: the last one ends the last complete line.
                const newline = chunk.lastIndexOf(0x0a);
                if (newline !== -1) saved = { inode, offset: chunkStart + newline + 1, line: lineNumber };
              }
            } finally {
              await handle.close();
            }
            if (context.position && saved) await savePosition(context.position, positionKey, saved, logger);
          }
          first = false;
          if (!options.follow) {
            const last = remainder + decoder.end();
            remainder = '';
            if (last !== '') yield* emit(last);
            if (joiner) yield* joined(joiner.flushAll());
            return;
          }
          if (joiner && options.multiline !== false) yield* joined(joiner.flushIdle(performance.now() - options.multiline.waitMs));
        }
      } finally {
        state = 'down';
        detail = 'stopped';
      }
    },
    health: () => ({ state, detail, counters: { ...counters } }),
    async check() {
      try {
        await stat(options.path);
        return { ok: true, detail: `${options.path} is readable` };
      } catch (error) {
        return { ok: false, detail: `cannot read ${options.path}: ${(error as Error).message}` };
      }
    },
  };
}

const CHUNK_BYTES = 64 * 1024;

async function savePosition(store: PluginStateStore, key: string, position: FilePosition, logger: Logger): Promise<void> {
  try {
    await store.write(key, JSON.stringify(position));
  } catch (error) {
    logger.warn(`could not save the read position: ${(error as Error).message}`);
  }
}

function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, milliseconds);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
