import { createHash } from 'node:crypto';
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
  /** Delay between lines when replaying (ms); 0 replays as fast as the pipeline takes them. */
  replayDelayMs: z.number().nonnegative().default(0),
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
export function createFileSource(input: FileSourceOptions, context: { name?: string; clock?: Clock; logger?: Logger } = {}): Source {
  const options = parseOptions(FileSourceOptionsSchema, input, 'file');
  const name = context.name ?? 'file';
  const clock = context.clock ?? systemClock;
  const logger = context.logger ?? silentLogger;
  const counters = { lines: 0, events: 0, invalid: 0 };
  let state: SourceHealth['state'] = 'down';
  let detail = 'not started';

  function toEvent(text: string, lineNumber: number): ObservedEvent | undefined {
    const id = createHash('sha1').update(options.path).update('\0').update(String(lineNumber)).update('\0').update(text).digest('base64url');
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
      if (options.startAt === 'end') {
        try {
          position = (await stat(options.path)).size;
        } catch {
          position = 0; // not there yet: everything it will hold is new
        }
      }
      let lineNumber = 0;
      let remainder = '';
      let decoder = new StringDecoder('utf8');
      state = 'connected';
      detail = `reading ${options.path}`;
      const emit = function* (text: string): Generator<ObservedEvent> {
        lineNumber++;
        const line = text.endsWith('\r') ? text.slice(0, -1) : text;
        if (line.trim() === '') return;
        counters.lines++;
        const event = toEvent(line, lineNumber);
        if (event) {
          counters.events++;
          yield event;
        }
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
            size = (await stat(options.path)).size;
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
              const buffer = Buffer.alloc(Math.min(CHUNK_BYTES, size - position));
              while (position < size && !signal.aborted) {
                const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
                if (bytesRead === 0) break;
                position += bytesRead;
                const parts = (remainder + decoder.write(buffer.subarray(0, bytesRead))).split('\n');
                remainder = parts.pop() ?? '';
                for (const text of parts) {
                  for (const event of emit(text)) {
                    yield event;
                    if (signal.aborted) return;
                    if (options.replayDelayMs > 0) await sleep(options.replayDelayMs, signal);
                  }
                }
              }
            } finally {
              await handle.close();
            }
          }
          first = false;
          if (!options.follow) {
            const last = remainder + decoder.end();
            remainder = '';
            if (last !== '') yield* emit(last);
            return;
          }
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
