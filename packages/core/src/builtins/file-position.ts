import { stat } from 'node:fs/promises';
import { z } from 'zod';
import type { PluginStateStore } from '../contracts/state-store.js';
import type { Logger } from '../util/logger.js';
import { fitBackfill, listSiblings, rotatedAfter, rotatedSince, type FileSegment } from './file-chain.js';

/** Where the file source stopped: the file (inode), the byte after its last complete line, and that line's number. */
export const FilePositionSchema = z.object({ inode: z.number().int().nonnegative(), offset: z.number().int().nonnegative(), line: z.number().int().nonnegative() });
export type FilePosition = z.infer<typeof FilePositionSchema>;
/**
 * A position as saved: with when it was saved (ms since the epoch, the wall clock files are
 * stamped with). A rotated file last written after that follows the saved file (positions saved
 * by older versions have none).
 */
const SavedPositionSchema = FilePositionSchema.extend({ savedAt: z.number().nonnegative().optional() });
type SavedPosition = z.infer<typeof SavedPositionSchema>;

export interface ResumedFilePosition {
  /**
   * The files to read, in order, the first from the saved position: the same file, or, when the
   * file at the path was replaced while fish was down, the rest of the saved file under its
   * rotated name (`app.log.2`, `app.log-20260101`: found by its inode), the files rotated after it
   * (`app.log.1`, `app.log-20260102`), then the file at the path from its start.
   */
  segments: FileSegment[];
  /** The gap was longer than maxBackfillBytes: `skippedBytes` were not read. */
  exceeded: boolean;
  skippedBytes: number;
  /** The file was replaced while fish was down. */
  rotated: boolean;
  /** Rotated files that may hold lines written after the saved position and are not read (compressed, or the saved file is gone so nothing orders them). */
  notRead: number;
  saved: SavedPosition;
}

const names = (files: Array<{ path: string }>): string => files.map((file) => file.path).join(', ');

/**
 * The files to read when the file at `path` (inode `current.ino`) is not the saved one: the rest
 * of the saved file and every file rotated after it, then the file at the path, at most
 * `maxBackfillBytes` together.
 */
async function resumeRotated(path: string, current: { ino: number; size: number }, saved: SavedPosition, maxBackfillBytes: number, logger: Logger) {
  const siblings = await listSiblings(path);
  const atPath = { path, offset: 0, line: 0, inode: current.ino, size: current.size };
  const previous = siblings.find((sibling) => sibling.inode === saved.inode);
  if (!previous) {
    // Compressed (gzip writes a new file) or deleted: its rest cannot be read. The files rotated
    // after it were last written after the position was saved (older ones before: the writer had
    // moved on to the saved file); without that time nothing orders them.
    const { savedAt } = saved;
    const { readable, compressed } = savedAt === undefined ? { readable: [], compressed: [] } : rotatedSince(siblings, savedAt, current.ino);
    const chain = [...readable.map((sibling) => ({ path: sibling.path, offset: 0, line: 0, inode: sibling.inode, size: sibling.size })), atPath];
    const others = siblings.filter((sibling) => sibling.inode !== current.ino);
    const suspects = savedAt === undefined ? others.sort((a, b) => b.mtimeMs - a.mtimeMs).slice(0, 3) : compressed;
    logger.warn(
      `${path} was replaced while fish was down and the file read last (inode ${saved.inode}) is not beside it uncompressed (compressed or deleted): the lines after the saved position in it are not read` +
        (suspects.length > 0 ? ` (they may be in ${names(suspects)}${savedAt === undefined ? ', not read since nothing proves which of them follow it' : ''})` : '') +
        `; reading ${chain.map((file) => file.path).join(', then ')}`,
    );
    return { ...fitBackfill(chain, maxBackfillBytes), notRead: 1 };
  }
  const { readable, compressed } = rotatedAfter(siblings, previous, current.ino);
  // A saved file shorter than the offset was truncated after the position was saved: read from its start.
  const from = previous.size >= saved.offset ? { offset: saved.offset, line: saved.line } : { offset: 0, line: 0 };
  const chain = [
    { path: previous.path, inode: previous.inode, size: previous.size, ...from },
    ...readable.map((sibling) => ({ path: sibling.path, offset: 0, line: 0, inode: sibling.inode, size: sibling.size })),
    atPath,
  ];
  logger.info(`${path} was rotated while fish was down; reading ${chain.map((file, index) => (index === 0 ? `the rest of ${file.path} (from byte ${file.offset})` : file.path)).join(', then ')}`);
  if (compressed.length > 0) logger.warn(`${names(compressed)} rotated after ${previous.path} and compressed: not read (lines written to them while fish was down are skipped)`);
  return { ...fitBackfill(chain, maxBackfillBytes), notRead: compressed.length };
}

/**
 * Reads the saved position of a file source and decides where to resume: the same file (inode)
 * resumes at the saved offset, at most `maxBackfillBytes` behind its end; a replaced file is
 * resumed under its rotated name, then the files rotated after it, then the one at the path (see
 * `segments`); a file shorter than the offset (truncated) is read from its start. Undefined when
 * nothing usable was saved or the file is not there: the source then starts as configured.
 */
export async function loadFilePosition(store: PluginStateStore, key: string, path: string, maxBackfillBytes: number, logger: Logger): Promise<ResumedFilePosition | undefined> {
  let saved: SavedPosition;
  try {
    const text = await store.read(key);
    if (text === undefined) return undefined;
    saved = SavedPositionSchema.parse(JSON.parse(text));
  } catch (error) {
    logger.warn(`the saved position of ${path} is not usable (${(error as Error).message}); starting as configured`);
    return undefined;
  }
  let info: { ino: number; size: number };
  try {
    info = await stat(path);
  } catch {
    return undefined;
  }
  const same = { exceeded: false, skippedBytes: 0, rotated: false, notRead: 0, saved };
  if (info.ino !== saved.inode) {
    const { segments, skippedBytes, notRead } = await resumeRotated(path, info, saved, maxBackfillBytes, logger);
    if (skippedBytes > 0)
      logger.warn(`more than maxBackfillBytes (${maxBackfillBytes}) were written to ${path} and its rotated files while fish was down; the oldest ${skippedBytes} bytes are skipped`);
    return { ...same, segments, skippedBytes, exceeded: skippedBytes > 0, rotated: true, notRead };
  }
  if (info.size < saved.offset) {
    logger.info(`${path} was truncated while fish was down; reading it from the start`);
    return { ...same, segments: [{ path, offset: 0, line: 0, inode: info.ino }], rotated: true };
  }
  const { segments, skippedBytes } = fitBackfill([{ path, offset: saved.offset, line: saved.line, inode: info.ino, size: info.size }], maxBackfillBytes);
  if (skippedBytes > 0) logger.warn(`${path} grew by more than maxBackfillBytes (${maxBackfillBytes}) while fish was down; older lines are skipped`);
  return { ...same, segments, skippedBytes, exceeded: skippedBytes > 0 };
}

/** Counts a resumed position in the file source's counters; returns the files to read. */
export function countResumed(resumed: ResumedFilePosition, counters: { backfillExceeded: number; backfillSkippedBytes: number; rotatedWhileDown: number; rotatedNotRead: number }): FileSegment[] {
  if (resumed.exceeded) counters.backfillExceeded++;
  counters.backfillSkippedBytes += resumed.skippedBytes;
  if (resumed.rotated) counters.rotatedWhileDown++;
  counters.rotatedNotRead += resumed.notRead;
  return resumed.segments;
}

/** Saves where reading stopped; a failure to save is logged, never thrown (reading goes on). */
export async function savePosition(store: PluginStateStore, key: string, position: FilePosition, logger: Logger): Promise<void> {
  try {
    // Wall-clock time on purpose (not an injected clock): it is compared with files' modification times.
    await store.write(key, JSON.stringify({ ...position, savedAt: Date.now() }));
  } catch (error) {
    logger.warn(`could not save the read position: ${(error as Error).message}`);
  }
}

/**
 * Saves positions one at a time: a call while a save runs makes it save once more when done,
 * with the position `current()` gives then (never an older one after a newer one).
 */
export function createPositionWriter(store: PluginStateStore, key: string, logger: Logger, saved: FilePosition | undefined) {
  let last = saved;
  let writing: Promise<void> | undefined;
  let again = false;
  return {
    /** The position saved last (or loaded), if any. */
    get saved(): FilePosition | undefined {
      return last;
    },
    save(current: () => FilePosition): Promise<void> {
      again = true;
      writing ??= (async () => {
        await Promise.resolve(); // `writing` is assigned before the loop can end and clear it
        while (again) {
          again = false;
          const next = current();
          if (last && last.inode === next.inode && last.offset === next.offset) continue;
          last = next;
          await savePosition(store, key, next, logger);
        }
        writing = undefined;
      })();
      return writing;
    },
  };
}
