import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import type { PluginStateStore } from '../contracts/state-store.js';
import type { Logger } from '../util/logger.js';

/** Where the file source stopped: the file (inode), the byte after its last complete line, and that line's number. */
export const FilePositionSchema = z.object({ inode: z.number().int().nonnegative(), offset: z.number().int().nonnegative(), line: z.number().int().nonnegative() });
export type FilePosition = z.infer<typeof FilePositionSchema>;

export interface ResumedFilePosition {
  position: number;
  lineNumber: number;
  /** Reading starts inside a line: the first (partial) line is skipped. */
  skipPartialLine: boolean;
  /** The gap was longer than maxBackfillBytes. */
  exceeded: boolean;
  /** The file was replaced while fish was down: the new one is read from its start. */
  rotated: boolean;
  /**
   * The replaced file, found under its rotated name (`app.log.1`, `app.log-20260102`) by its
   * inode: read first from the saved offset (`position`), then the new one from its start.
   */
  previous?: { path: string; inode: number };
  saved: FilePosition;
}

/**
 * The file with inode `inode` beside `path` whose name starts with `path`'s (where logrotate and
 * most rotating writers put the previous file), or undefined.
 */
async function findRotated(path: string, inode: number): Promise<{ path: string; size: number } | undefined> {
  const name = basename(path);
  let entries: string[];
  try {
    entries = await readdir(dirname(path));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (entry === name || !entry.startsWith(name)) continue;
    const candidate = join(dirname(path), entry);
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isFile() && info.ino === inode) return { path: candidate, size: info.size };
  }
  return undefined;
}

/**
 * Reads the saved position of a file source and decides where to resume: the same file (inode)
 * resumes at the saved offset, at most `maxBackfillBytes` behind its end; a replaced file is read
 * from its start; a file shorter than the offset (truncated) too. Undefined when nothing usable
 * was saved or the file is not there: the source then starts as configured.
 */
export async function loadFilePosition(store: PluginStateStore, key: string, path: string, maxBackfillBytes: number, logger: Logger): Promise<ResumedFilePosition | undefined> {
  let saved: FilePosition;
  try {
    const text = await store.read(key);
    if (text === undefined) return undefined;
    saved = FilePositionSchema.parse(JSON.parse(text));
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
  if (info.ino !== saved.inode) {
    // Rotated: the rest of the previous file first, when it is still there and not too far behind.
    const previous = await findRotated(path, saved.inode);
    if (previous && previous.size >= saved.offset && previous.size - saved.offset <= maxBackfillBytes) {
      logger.info(`${path} was rotated while fish was down; reading the rest of ${previous.path} first`);
      return { position: saved.offset, lineNumber: saved.line, skipPartialLine: false, exceeded: false, rotated: true, previous: { path: previous.path, inode: saved.inode }, saved };
    }
    logger.warn(`${path} was replaced while fish was down and the rest of the previous file was not found beside it; reading the new file from the start`);
    return { position: 0, lineNumber: 0, skipPartialLine: false, exceeded: false, rotated: true, saved };
  }
  if (info.size < saved.offset) {
    logger.info(`${path} was truncated while fish was down; reading it from the start`);
    return { position: 0, lineNumber: 0, skipPartialLine: false, exceeded: false, rotated: true, saved };
  }
  if (info.size - saved.offset > maxBackfillBytes) {
    logger.warn(`${path} grew by more than maxBackfillBytes (${maxBackfillBytes}) while fish was down; older lines are skipped`);
    // Line numbers are unknown past the skipped bytes: count on from a distinct range.
    return { position: info.size - maxBackfillBytes, lineNumber: saved.line + 1_000_000_000, skipPartialLine: true, exceeded: true, rotated: false, saved };
  }
  return { position: saved.offset, lineNumber: saved.line, skipPartialLine: false, exceeded: false, rotated: false, saved };
}

/** Saves where reading stopped; a failure to save is logged, never thrown (reading goes on). */
export async function savePosition(store: PluginStateStore, key: string, position: FilePosition, logger: Logger): Promise<void> {
  try {
    await store.write(key, JSON.stringify(position));
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
