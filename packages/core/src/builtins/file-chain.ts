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
    siblings.push({ path: join(dir, entry), suffix: entry.slice(name.length), inode: info.ino, size: info.size, mtimeMs: info.mtimeMs, compressed: COMPRESSED.test(entry) });
  }
  return siblings;
}

/** The file with inode `inode` beside `path` (where logrotate and most rotating writers put the previous file), or undefined. */
export async function findRotated(path: string, inode: number): Promise<Sibling | undefined> {
  return (await listSiblings(path)).find((sibling) => sibling.inode === inode);
}

/** Oldest first: by modification time; at equal times `.3` before `.2`, `-20261201` before `-20261202`. */
function byAge(a: Sibling, b: Sibling): number {
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs - b.mtimeMs;
  const numbered = /^\.(\d+)$/;
  const [na, nb] = [numbered.exec(a.suffix), numbered.exec(b.suffix)];
  if (na && nb) return Number(nb[1]) - Number(na[1]);
  return a.suffix < b.suffix ? -1 : a.suffix > b.suffix ? 1 : 0;
}

/**
 * The files rotated after `saved` (found by its inode): rotation-named siblings last written after
 * it (at the same time: named as newer), oldest first. Older rotations were last written before the saved file was (the writer had
 * moved on to it), so they are never among them; neither is the file at the path (`currentInode`).
 * Compressed ones cannot be read as they are: returned apart.
 */
export function rotatedAfter(siblings: Sibling[], saved: Sibling, currentInode: number): { readable: Sibling[]; compressed: Sibling[] } {
  const later = siblings.filter((sibling) => sibling.inode !== saved.inode && sibling.inode !== currentInode && ROTATION_SUFFIX.test(sibling.suffix) && byAge(saved, sibling) < 0).sort(byAge);
  return { readable: later.filter((sibling) => !sibling.compressed), compressed: later.filter((sibling) => sibling.compressed) };
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
 * Opens a file to read: a rotated one renamed again since it was found (logrotate ran once more)
 * is found again by its inode beside `path`. Throws when it is gone.
 */
export async function openSegment(segment: FileSegment, path: string): Promise<OpenFile> {
  if (segment.path === path || segment.inode === undefined) return OpenFile.open(segment.path, segment.offset, segment.inode);
  const file = await OpenFile.open(segment.path, segment.offset, segment.inode).catch(() => undefined);
  if (file?.inode === segment.inode) return file;
  await file?.close();
  const moved = await findRotated(path, segment.inode);
  if (!moved) throw new Error(`${segment.path} is gone (inode ${segment.inode} is no longer beside ${path})`);
  const reopened = await OpenFile.open(moved.path, segment.offset, segment.inode);
  if (reopened.inode === segment.inode) return reopened;
  await reopened.close();
  throw new Error(`${segment.path} was replaced while it was being found`);
}
