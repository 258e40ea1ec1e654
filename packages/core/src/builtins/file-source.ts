// The file source: its options schema and the reader that tails a file (rotation, truncation, resume) into events.
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import type { ObservedEvent } from '../contracts/observed-event.js';
import type { Source, SourceDelivery, SourceHealth } from '../contracts/source.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { parseOptions } from '../plugin-utils/options.js';
import type { PluginStateStore } from '../contracts/state-store.js';
import { countResumed, createPositionWriter, loadFilePosition, type FilePosition } from './file-position.js';
import { createContinuationJoiner, type JoinedMessage } from '../pipeline/continuation-joiner.js';
import { createLineParser } from './file-line.js';
import { HandedOn, sleep, type Located, type OpenFile, type RawLine } from './file-reader.js';
import { openSegment, type FileSegment } from './file-chain.js';

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
  /** After a restart, the most read behind the end of the file, its rotated files included; older bytes are skipped (counted). @default 64 MiB */
  maxBackfillBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
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
  const counters = { lines: 0, events: 0, invalid: 0, joinedLines: 0, cutEvents: 0, backfillExceeded: 0, backfillSkippedBytes: 0, rotatedWhileDown: 0, rotatedNotRead: 0 };
  const positionKey = `file-position-${name}`;
  // A message's first line carries where it starts in the file: a saved position never passes a
  // message that was not handed on yet (in progress in the joiner, or yielded but not taken).
  const joiner = options.multiline === false ? undefined : createContinuationJoiner<Located>({ ...options.multiline, now: () => performance.now() });
  const joined = (messages: Array<JoinedMessage<Located>>): Located[] => {
    if (joiner) Object.assign(counters, { joinedLines: joiner.stats().joinedLines, cutEvents: joiner.stats().cutMessages });
    return messages.map(({ meta, message }) => (message === meta.event.message ? meta : { ...meta, event: { ...meta.event, message } }));
  };
  // Events handed on and not acknowledged yet: each one's handler (set by the events() that yielded it).
  const awaiting = new WeakMap<object, () => Promise<void>>();
  let state: SourceHealth['state'] = 'down';
  let detail = 'not started';

  const toEvent = createLineParser({ name, options, clock, logger, counters });

  return {
    specificationVersion: 'v1',
    name,
    async *events(signal: AbortSignal, delivery?: SourceDelivery): AsyncGenerator<ObservedEvent> {
      const acknowledged = delivery?.acknowledges === true;
      // The files to read in order (`ResumedFilePosition.segments`), else as configured; then the
      // file at the path from its start. Lines are read from the open file (`file`, the first of
      // `segments`); the saved position counts only the lines handed on, in the file each came from.
      let segments: FileSegment[] = [{ path: options.path, offset: 0, line: 0 }];
      const resumed = context.position ? await loadFilePosition(context.position, positionKey, options.path, options.maxBackfillBytes, logger) : undefined;
      if (resumed) {
        segments = countResumed(resumed, counters);
      } else if (options.startAt === 'end') {
        const info = await stat(options.path).catch(() => undefined); // not there yet: everything it will hold is new
        if (info) segments = [{ path: options.path, offset: info.size, line: 0, inode: info.ino }];
      }
      const start = segments[0]!;
      let skipPartialLine = false;
      let file: OpenFile | undefined;
      let lineNumber = start.line;
      // Copy-truncations seen: offsets start over, ids must not (the dedup still remembers the old ones).
      let truncations = 0;
      let lastStream: string | undefined;
      // Just after the last line read, in its file; the messages completed but not yet taken by the consumer.
      let consumed: FilePosition = { inode: start.inode ?? 0, offset: start.offset, line: start.line };
      const queue: Located[] = [];
      // With acknowledgements: the messages handed on, in file order, from the first one not acknowledged.
      const handedOn = new HandedOn();
      const safePosition = (): FilePosition => {
        const first = handedOn.first() ?? queue[0] ?? joiner?.inProgress()[0];
        return first ? { inode: first.inode, offset: first.offset, line: first.line } : consumed;
      };
      const writer = context.position ? createPositionWriter(context.position, positionKey, logger, resumed?.saved) : undefined;
      const persist = (): Promise<void> => (writer && consumed.inode !== 0 ? writer.save(safePosition) : Promise.resolve());
      state = 'connected';
      detail = `reading ${options.path}`;
      // Line ids: the file (device and inode) and copy-truncations seen, made once per file and
      // truncation, then the offset where the line ends. Within one file and truncation a line's
      // end names it: the lines read end further and further into the file, and an unfinished last
      // line taken out when reading stops (`fi`) ends before the whole line read later (`five`),
      // which starts at the same offset. One number per line to write out, not two.
      let idPrefix = '';
      let prefixOf: { fileId: string; truncations: number } = { fileId: '', truncations: -1 };
      /** One line of the open file; the messages it completes. */
      const take = ({ text, offset, end }: RawLine): Located[] => {
        const { inode, fileId } = file!;
        if (prefixOf.fileId !== fileId || prefixOf.truncations !== truncations) {
          prefixOf = { fileId, truncations };
          idPrefix = `${fileId}.${truncations}:`;
        }
        const line = lineNumber++;
        consumed = { inode, offset: end, line: lineNumber };
        if (skipPartialLine) {
          // Reading resumed inside a line (the gap was longer than maxBackfillBytes).
          skipPartialLine = false;
          return [];
        }
        const body = text.endsWith('\r') ? text.slice(0, -1) : text;
        if (body.trim() === '') return [];
        counters.lines++;
        const event = toEvent(body, lineNumber, idPrefix + end);
        if (!event) return [];
        const located: Located = { event, inode, offset, line };
        if (!joiner) return [located];
        // One message in progress at a time, so events keep the file's order: a line of another
        // host or service completes the one in progress.
        const stream = `${event.host}\0${event.service}`;
        const out = stream === lastStream ? [] : joined(joiner.flushAll());
        lastStream = stream;
        out.push(...joined(joiner.push(stream, event.message, located)));
        return out;
      };
      /**
       * Hands messages on. A message counts as processed once the consumer acknowledges it (when it
       * asked for acknowledgements), otherwise once it asks for the next one. After an abort what
       * is queued is still handed on: the consumer takes it before it stops.
       */
      const hand = async function* (messages: Located[]): AsyncGenerator<ObservedEvent> {
        queue.push(...messages);
        while (queue.length > 0) {
          counters.events++;
          const located = queue[0]!;
          if (acknowledged) {
            queue.shift();
            awaiting.set(located.event, handedOn.add(located, persist));
            yield located.event;
          } else {
            yield located.event;
            queue.shift();
          }
          if (options.replayDelayMs > 0 && !signal.aborted) await sleep(options.replayDelayMs, signal);
        }
      };
      try {
        let first = true;
        let wait = false;
        while (!signal.aborted) {
          if (wait) {
            await sleep(options.pollIntervalMs, signal);
            if (signal.aborted) break;
          }
          wait = true;
          // The file at the path now: after a rotation by rename, another one than the open file.
          const atPath = await stat(options.path).catch(() => undefined);
          if (!file) {
            const segment = segments[0] ?? { path: options.path, offset: 0, line: 0 };
            try {
              file = await openSegment(segment, options.path);
            } catch (error) {
              if (segment.path !== options.path) {
                // A rotated file went away since it was found: the next one.
                logger.warn(`${segment.path} went away before it was read (${(error as Error).message}); reading on with the next file`);
                segments.shift();
                wait = false;
                continue;
              }
              if (first && !options.follow) throw error;
              state = 'reconnecting';
              detail = `${options.path} is missing; waiting for it`;
              first = false;
              continue;
            }
            // Replaced since the position was read: from its start.
            const expected = segment.inode === undefined || segment.inode === file.inode;
            lineNumber = expected ? segment.line : 0;
            skipPartialLine = expected && segment.skipPartialLine === true;
            consumed = { inode: file.inode, offset: file.position, line: lineNumber };
            if (segment.path !== options.path || segment.offset > 0) logger.info(`reading ${segment.path} from byte ${file.position}`);
          }
          state = atPath ? 'connected' : 'reconnecting';
          detail = atPath ? `reading ${options.path}` : `${options.path} is missing; waiting for it`;
          let size = await file.size();
          // The first position is saved at once: a restart before any new line resumes from here, not from the end.
          if (!writer?.saved && size >= file.position) await persist();
          if (size < file.position) {
            // Truncated (rotated by copytruncate): start again from the top.
            file.restart();
            truncations++;
            consumed = { inode: file.inode, offset: 0, line: lineNumber };
          }
          // Rotated, or a rotated file read after a restart with more to read after it.
          const rotated = segments.length > 1 || (atPath !== undefined && atPath.ino !== file.inode);
          // Rotated: what the writer wrote to the old file before it moved on is read to its end.
          for (let pass = 0; pass < (rotated ? 2 : 1) && !signal.aborted; pass++) {
            if (pass > 0) size = await file.size();
            for await (const line of file.lines(size)) {
              yield* hand(take(line));
              if (signal.aborted) break;
            }
          }
          await persist();
          first = false;
          if (signal.aborted) break;
          if (rotated || !options.follow) {
            // The old file is finished (or reading ends): its unfinished last line is read as it
            // is, and the message being joined ends with it. Reading ends: the saved position stays
            // before that line, since the writer may finish it.
            const last = file.takeCarry();
            const before = consumed;
            const messages = last ? take(last) : [];
            if (!rotated) consumed = before;
            yield* hand(messages);
            if (joiner) yield* hand(joined(joiner.flushAll()));
            lastStream = undefined;
          }
          if (rotated) {
            await file.close();
            file = undefined;
            segments.shift();
            truncations = 0;
            wait = false; // the new file at once
            continue;
          }
          if (!options.follow) {
            await persist();
            return;
          }
          if (joiner && options.multiline !== false) {
            yield* hand(joined(joiner.flushIdle(performance.now() - options.multiline.waitMs)));
            await persist();
          }
        }
        // Stopped: the message being joined ends with what was read; handed on now, it is processed
        // once before the consumer stops instead of being read again after the restart.
        if (joiner) yield* hand(joined(joiner.flushAll()));
      } finally {
        // Stopped (or killed later): what was not handed on is read again next time, never skipped.
        await file?.close();
        await persist();
        state = 'down';
        detail = 'stopped';
      }
    },
    acknowledge(event: ObservedEvent) {
      if (event === null || typeof event !== 'object') return;
      const handler = awaiting.get(event);
      awaiting.delete(event);
      return handler?.();
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
