import { mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byName, fitBackfill, openSegment, type Sibling } from './file-chain.js';
import { identity } from './file-reader.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fish-file-chain-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const named = (suffix: string): Sibling => ({ path: `app.log${suffix}`, suffix, inode: 1, size: 0, mtimeMs: 0, birthtimeMs: 0, compressed: suffix.endsWith('.gz') });

describe('file chain', () => {
  it('orders rotations by name only where the names say: numbered, then dates of one format', () => {
    expect(byName(named('.3'), named('.2'))).toBeLessThan(0);
    expect(byName(named('.2.gz'), named('.10'))).toBeGreaterThan(0);
    expect(byName(named('-20261201'), named('-20261202.gz'))).toBeLessThan(0);
    expect(byName(named('-20261202'), named('-20261201'))).toBeGreaterThan(0);
    // Different shapes say nothing.
    expect(byName(named('.1'), named('-20261201'))).toBe(0);
    expect(byName(named('-2026-12-01'), named('-20261202'))).toBe(0);
  });

  it('keeps the newest maxBytes of a chain: older files dropped, the oldest kept entered inside its first line', () => {
    const chain = [
      { path: 'a', offset: 10, line: 3, inode: 1, size: 110 },
      { path: 'b', offset: 0, line: 0, inode: 2, size: 100 },
      { path: 'c', offset: 0, line: 0, inode: 3, size: 50 },
    ];
    expect(fitBackfill(chain, 1000)).toEqual({ segments: chain.map(({ size: _size, ...segment }) => segment), skippedBytes: 0 });
    expect(fitBackfill(chain, 80)).toEqual({
      segments: [
        { path: 'b', offset: 70, line: 1_000_000_000, inode: 2, skipPartialLine: true },
        { path: 'c', offset: 0, line: 0, inode: 3 },
      ],
      skippedBytes: 100 + 70,
    });
    // The file at the path is always kept, even when it alone is over the limit.
    expect(fitBackfill(chain, 20).segments).toEqual([{ path: 'c', offset: 30, line: 1_000_000_000, inode: 3, skipPartialLine: true }]);
  });

  it('a file given the inode number of a deleted one has other line ids (its creation time is part of them)', () => {
    const old = identity({ dev: 2049, ino: 4720333, birthtimeMs: 1_796_100_000_000.25 });
    const reused = identity({ dev: 2049, ino: 4720333, birthtimeMs: 1_796_191_068_598.5 });
    expect(reused.inode).toBe(old.inode);
    expect(reused.fileId).not.toBe(old.fileId);
    // Where the file system does not record creation times, device and inode.
    expect(identity({ dev: 2049, ino: 4720333, birthtimeMs: 0 }).fileId).toBe(identity({ dev: 2049, ino: 4720333 }).fileId);
  });

  it('a file renamed after it was planned (logrotate ran again at start) is found again by its inode, even the one at the path', async () => {
    const path = join(dir, 'race.log');
    await writeFile(path, 'one\ntwo\n');
    const inode = (await stat(path)).ino;
    await rename(path, `${path}.1`);
    await writeFile(path, 'new\n');
    const file = await openSegment({ path, offset: 4, line: 1, inode }, path);
    try {
      expect({ inode: file.inode, position: file.position }).toEqual({ inode, position: 4 });
    } finally {
      await file.close();
    }
    // The old one gone: the file at the path is opened from its start; a rotated one gone is an error.
    await rm(`${path}.1`);
    const replaced = await openSegment({ path, offset: 4, line: 1, inode }, path);
    try {
      expect({ inode: replaced.inode, position: replaced.position }).toEqual({ inode: (await stat(path)).ino, position: 0 });
    } finally {
      await replaced.close();
    }
    await expect(openSegment({ path: `${path}.1`, offset: 4, line: 1, inode }, path)).rejects.toThrow(/is gone/);
  });
});
