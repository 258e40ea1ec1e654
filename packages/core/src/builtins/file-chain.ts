// The files a file source reads after a restart that finds the file at its path rotated: the rest of the saved file, the files rotated after it, then the file at the path.
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OpenFile } from './file-reader.js';

/** A file to read from `offset`, its first line counted as `line`; `inode` when it must be that file (found again by inode if renamed since). */
export interface FileSegment {
  path: string;
  offset: number;
  line: number;
  inode?: number;
  /** Reading starts inside a line (the backfill was cut): that partial first line is skipped. */
  skipPartialLine?: boolean;
}

/** A regular file beside the path whose name starts with the path's. */
export interface Sibling {
  path: string;
  /** What follows the path's name: `.1`, `-20261201`, `.2.gz`. */
  suffix: string;
  inode: number;
  size: number;
  mtimeMs: number;
  /** When it was created (0 where the file system does not say). */
  birthtimeMs: number;
  compressed: boolean;
}

/** Compressed by logrotate (`compress`, `compresscmd`) or by hand: another file than the one written (new inode, other bytes). */
const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|lzma|lz|Z|zip)$/;
/** What logrotate (numbered, `dateext`, `dateformat`) and rotating writers append to the name: a separator, then something with a digit. */
const ROTATION_SUFFIX = /^[._-].*\d/;

/** The regular files beside `path` whose name starts with its name (not `path` itself). */
export async function listSiblings(path: string): Promise<Sibling[]> {
  const name = basename(path);
  const dir = dirname(path);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const siblings: Sibling[] = [];
  for (const entry of entries) {
    if (entry === name || !entry.startsWith(name)) continue;
    const info = await stat(join(dir, entry)).catch(() => undefined);
    if (!info?.isFile()) continue;
    siblings.push({
      path: join(dir, entry),
      suffix: entry.slice(name.length),
      inode: info.ino,
      size: info.size,
      mtimeMs: info.mtimeMs,
      birthtimeMs: info.birthtimeMs,
      compressed: COMPRESSED.test(entry),
    });
  }
  return siblings;
}

/** The file with inode `inode` beside `path` (where logrotate and most rotating writers put the previous file), or undefined. */
export async function findRotated(path: string, inode: number): Promise<Sibling | undefined> {
  return (await listSiblings(path)).find((sibling) => sibling.inode === inode);
}

/**
 * Negative when `a` is named as an older rotation than `b` (`.3` before `.2`, `-20261201` before
 * `-20261202`, a compression suffix aside), positive when newer, 0 when the names do not say.
 */
export function byName(a: Sibling, b: Sibling): number {
  const [sa, sb] = [a.suffix.replace(COMPRESSED, ''), b.suffix.replace(COMPRESSED, '')];
  const numbered = /^\.(\d+)$/;
  const [na, nb] = [numbered.exec(sa), numbered.exec(sb)];
  if (na && nb) return Number(nb[1]) - Number(na[1]);
  // Dates (and times) of one format: the same shape, digits aside.
  if (sa.replace(/\d/g, '0') !== sb.replace(/\d/g, '0')) return 0;
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** Oldest first: by modification time, at equal times by name. */
function byAge(a: Sibling, b: Sibling): number {
  return a.mtimeMs !== b.mtimeMs ? a.mtimeMs - b.mtimeMs : byName(a, b);
}

/**
 * The files rotated after `saved` (found by its inode), but the file at the path (`currentInode`):
 * the rotation-named siblings last written after it (at the same time: named as newer), oldest
 * first. Older rotations were last written before the saved file was (the writer had moved on to
 * it), so they are never among them. Compressed ones cannot be read as they are: those named as
 * newer than the saved file are returned apart (compressing stamps a file with a new time).
 */
export function rotatedAfter(siblings: Sibling[], saved: Sibling, currentInode: number): { readable: Sibling[]; compressed: Sibling[] } {
  const others = siblings.filter((sibling) => sibling.inode !== saved.inode && sibling.inode !== currentInode && ROTATION_SUFFIX.test(sibling.suffix));
  return {
    readable: others.filter((sibling) => !sibling.compressed && byAge(saved, sibling) < 0).sort(byAge),
    compressed: others.filter((sibling) => sibling.compressed && byName(saved, sibling) < 0).sort(byName),
  };
}

/** The rotation-named files beside the path last written after `time` (ms since the epoch), but the file at the path; oldest first. */
export function rotatedSince(siblings: Sibling[], time: number, currentInode: number): { readable: Sibling[]; compressed: Sibling[] } {
  const later = siblings.filter((sibling) => sibling.inode !== currentInode && ROTATION_SUFFIX.test(sibling.suffix) && sibling.mtimeMs > time).sort(byAge);
  return { readable: later.filter((sibling) => !sibling.compressed), compressed: later.filter((sibling) => sibling.compressed) };
}

/**
 * Keeps at most `maxBytes` of the files to read, the newest: older files are dropped and the
 * oldest one kept may start inside (its partial first line skipped, line numbers counted on from a
 * distinct range since the lines skipped are not counted). The last file (the one at the path) is
 * always kept. Returns the files kept and the bytes skipped.
 */
export function fitBackfill(segments: Array<FileSegment & { size: number }>, maxBytes: number): { segments: FileSegment[]; skippedBytes: number } {
  const kept: FileSegment[] = [];
  let left = maxBytes;
  let skippedBytes = 0;
  for (let index = segments.length - 1; index >= 0; index--) {
    const { size, ...segment } = segments[index]!;
    const bytes = Math.max(0, size - segment.offset);
    if (bytes <= left) {
      kept.unshift(segment);
      left -= bytes;
    } else if (left > 0) {
      kept.unshift({ ...segment, offset: size - left, line: segment.line + 1_000_000_000, skipPartialLine: true });
      skippedBytes += bytes - left;
      left = 0;
    } else {
      skippedBytes += bytes;
    }
  }
  return { segments: kept, skippedBytes };
}

/**
 * Opens a file to read. One renamed since it was found (logrotate ran once more, even the file at
 * the path) is found again by its inode beside `path`; a rotated one gone throws, the file at the
 * path replaced and its old one gone opens the new one (from its start: `OpenFile.open`).
 */
export async function openSegment(segment: FileSegment, path: string): Promise<OpenFile> {
  if (segment.inode === undefined) return OpenFile.open(segment.path, segment.offset);
  const atPath = segment.path === path;
  const file = await OpenFile.open(segment.path, segment.offset, segment.inode).catch((error: unknown) => {
    if (atPath) throw error;
    return undefined;
  });
  if (file?.inode === segment.inode) return file;
  const moved = await findRotated(path, segment.inode);
  const reopened = moved ? await OpenFile.open(moved.path, segment.offset, segment.inode).catch(() => undefined) : undefined;
  if (reopened?.inode === segment.inode) {
    await file?.close();
    return reopened;
  }
  await reopened?.close();
  if (file && atPath) return file;
  await file?.close();
  throw new Error(`${segment.path} is gone (inode ${segment.inode} is no longer beside ${path})`);
}
