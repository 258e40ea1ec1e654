import { appendFile, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { createMemoryStateStore, type PluginStateStore } from '../contracts/state-store.js';
import { createFileSource } from './file-source.js';

/*
 * The file source with acknowledgements, across a rotation (rename + new file, as logrotate does
 * without copytruncate) and a restart: a saved position names the file its offset belongs to, so
 * every line is processed exactly once over both runs, whatever the order acknowledgements arrive in.
 */

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fish-file-rotation-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (message: string) => `${JSON.stringify({ message, host: 'penny', service: 'web', level: 'error' })}\n`;

/** A consumer of one run of the source: takes events, acknowledges the ones it processed, stops. */
function run(path: string, store: PluginStateStore, name = 'app', multiline: false | { waitMs: number } = false) {
  const source = createFileSource({ path, follow: true, pollIntervalMs: 10, multiline }, { name, position: store });
  const controller = new AbortController();
  const iterator = source.events(controller.signal, { acknowledges: true })[Symbol.asyncIterator]();
  const processed: string[] = [];
  return {
    async take(count: number): Promise<ObservedEvent[]> {
      const events: ObservedEvent[] = [];
      while (events.length < count) {
        const next = await Promise.race([iterator.next(), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 3000))]);
        if (next === 'timeout') throw new Error(`only ${events.length} of ${count} events arrived: ${events.map((event) => event.message).join(', ')}`);
        if (next.done) break;
        events.push(next.value);
      }
      return events;
    },
    /** Nothing more arrives for a while (several polls). */
    async nothingMore(): Promise<ObservedEvent | undefined> {
      const next = await Promise.race([iterator.next(), new Promise<'quiet'>((resolve) => setTimeout(() => resolve('quiet'), 150))]);
      return next === 'quiet' || next.done ? undefined : next.value;
    },
    async acknowledge(events: ObservedEvent[]) {
      for (const event of events) {
        processed.push(event.message);
        await source.acknowledge!(event);
      }
    },
    /** A graceful stop: what is still handed on after the abort is not processed (read again next time). */
    async stop() {
      controller.abort();
      for (let guard = 0; guard < 10_000; guard++) if ((await iterator.next()).done) return;
      throw new Error('the source did not end after the abort');
    },
    processed,
    health: () => source.health!(),
  };
}

describe('file source: rotation and acknowledged positions', () => {
  it.each([
    ['one event per line', false as const],
    ['continuation lines joined', { waitMs: 20 }],
  ])(
    'acknowledgements arriving after a rename rotation save the old file with its own offset: a restart reads the rest of the old file, then the new one, each line once (%s)',
    async (_label, multiline) => {
      const path = join(dir, `app-${multiline === false ? 'lines' : 'joined'}.log`);
      const name = multiline === false ? 'lines' : 'joined';
      const store = createMemoryStateStore();
      await writeFile(path, ['a1', 'a2', 'a3', 'a4'].map(line).join(''));
      const oldInode = (await stat(path)).ino;

      const first = run(path, store, name, multiline);
      const fromOld = await first.take(4);
      expect(fromOld.map((event) => event.message)).toEqual(['a1', 'a2', 'a3', 'a4']);
      // The writer appends one more line just before the rotation, then writes to a new file
      // (longer lines: the new file is bigger than the old offset).
      await appendFile(path, line('a5'));
      await rename(path, `${path}.1`);
      await writeFile(path, ['b1 the new file after the rotation', 'b2 the new file after the rotation', 'b3 the new file after the rotation'].map(line).join(''));
      const afterRotation = await first.take(4);
      expect(afterRotation.map((event) => event.message)).toEqual(['a5', 'b1 the new file after the rotation', 'b2 the new file after the rotation', 'b3 the new file after the rotation']);
      // Only the first line was processed when the acknowledgement arrives, after the rotation.
      await first.acknowledge(fromOld.slice(0, 1));
      await first.stop();
      const saved = JSON.parse((await store.read(`file-position-${name}`))!);
      expect(saved).toEqual({ inode: oldInode, offset: Buffer.byteLength(line('a1')), line: 1 });

      const second = run(path, store, name, multiline);
      const reread = await second.take(7);
      expect(reread.map((event) => event.message)).toEqual(['a2', 'a3', 'a4', 'a5', 'b1 the new file after the rotation', 'b2 the new file after the rotation', 'b3 the new file after the rotation']);
      // The same lines carry the same ids as in the first run (the dedup recognises them).
      expect(reread.map((event) => event.id)).toEqual([...fromOld.slice(1), ...afterRotation].map((event) => event.id));
      await second.acknowledge(reread);
      expect(await second.nothingMore()).toBeUndefined();
      await second.stop();
      expect([...first.processed, ...second.processed]).toEqual([
        'a1',
        'a2',
        'a3',
        'a4',
        'a5',
        'b1 the new file after the rotation',
        'b2 the new file after the rotation',
        'b3 the new file after the rotation',
      ]);
    },
  );

  it('the new file smaller than the old offset at the rotation, growing while fish is down: the saved offset still belongs to the old file', async () => {
    const path = join(dir, 'small.log');
    const store = createMemoryStateStore();
    const long = (name: string) => `${name} ${'x'.repeat(80)}`;
    await writeFile(path, ['a1', 'a2', 'a3', 'a4'].map(long).map(line).join(''));
    const oldInode = (await stat(path)).ino;
    const first = run(path, store, 'small');
    const fromOld = await first.take(4);
    await rename(path, `${path}.1`);
    await writeFile(path, line('b1'));
    expect((await first.take(1)).map((event) => event.message)).toEqual(['b1']);
    await first.acknowledge(fromOld.slice(0, 1));
    await first.stop();
    expect(JSON.parse((await store.read('file-position-small'))!)).toEqual({ inode: oldInode, offset: Buffer.byteLength(line(long('a1'))), line: 1 });
    // While fish is down the new file grows past the old file's offset.
    await appendFile(path, ['b2', 'b3', 'b4', 'b5'].map(line).join(''));
    const second = run(path, store, 'small');
    const reread = await second.take(8);
    await second.acknowledge(reread);
    expect(await second.nothingMore()).toBeUndefined();
    await second.stop();
    expect(second.health().counters).toMatchObject({ invalid: 0 });
    expect([...first.processed, ...second.processed]).toEqual([...['a1', 'a2', 'a3', 'a4'].map(long), 'b1', 'b2', 'b3', 'b4', 'b5']);
  });

  it('once the old file is all acknowledged the position moves to the new file: a restart resumes inside it', async () => {
    const path = join(dir, 'moved.log');
    const store = createMemoryStateStore();
    await writeFile(path, ['a1', 'a2'].map(line).join(''));
    const first = run(path, store, 'moved');
    const fromOld = await first.take(2);
    await rename(path, `${path}.1`);
    await writeFile(path, ['b1', 'b2', 'b3'].map(line).join(''));
    const fromNew = await first.take(3);
    await first.acknowledge([...fromOld, fromNew[0]!]);
    await first.stop();
    expect(JSON.parse((await store.read('file-position-moved'))!)).toEqual({ inode: (await stat(path)).ino, offset: Buffer.byteLength(line('b1')), line: 1 });
    const second = run(path, store, 'moved');
    const reread = await second.take(2);
    await second.acknowledge(reread);
    expect(await second.nothingMore()).toBeUndefined();
    await second.stop();
    expect([...first.processed, ...second.processed]).toEqual(['a1', 'a2', 'b1', 'b2', 'b3']);
  });

  it('a rotated file that is gone at the restart (compressed, deleted): the new file is read from its start, counted', async () => {
    const path = join(dir, 'gone.log');
    const store = createMemoryStateStore();
    await writeFile(path, ['a1', 'a2'].map(line).join(''));
    const first = run(path, store, 'gone');
    const fromOld = await first.take(2);
    await rename(path, `${path}.1`);
    await writeFile(path, ['b1 longer than the old offset', 'b2 longer than the old offset'].map(line).join(''));
    await first.take(2);
    await first.acknowledge(fromOld.slice(0, 1));
    await first.stop();
    await rm(`${path}.1`);
    const second = run(path, store, 'gone');
    const reread = await second.take(2);
    expect(reread.map((event) => event.message)).toEqual(['b1 longer than the old offset', 'b2 longer than the old offset']);
    expect(second.health().counters).toMatchObject({ rotatedWhileDown: 1 });
    await second.stop();
  });

  it.each([
    ['one event per line', false as const],
    ['continuation lines joined', { waitMs: 20 }],
  ])('a graceful stop in the middle of a chunk saves the position just past the last acknowledged line, never further (%s)', async (_label, multiline) => {
    const name = multiline === false ? 'big-lines' : 'big-joined';
    const path = join(dir, `${name}.log`);
    const store = createMemoryStateStore();
    const lines = Array.from({ length: 3000 }, (_, index) => line(`line ${String(index).padStart(5, '0')} ${'x'.repeat(40)}`));
    await writeFile(path, lines.join(''));
    expect((await stat(path)).size).toBeGreaterThan(2 * 64 * 1024);
    const first = run(path, store, name, multiline);
    const taken = await first.take(1500); // inside the second 64 KiB chunk
    await first.acknowledge(taken.slice(0, 1000));
    await first.stop();
    expect(JSON.parse((await store.read(`file-position-${name}`))!)).toMatchObject({ offset: lines.slice(0, 1000).join('').length, line: 1000 });
    const second = run(path, store, name, multiline);
    const rest = await second.take(2000);
    await second.acknowledge(rest);
    expect(await second.nothingMore()).toBeUndefined();
    await second.stop();
    const all = [...first.processed, ...second.processed];
    expect(all).toHaveLength(3000);
    expect(new Set(all).size).toBe(3000);
    expect(all[1000]).toBe(JSON.parse(lines[1000]!).message);
  });
});
