import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { createMemoryStateStore, type PluginStateStore } from '../contracts/state-store.js';
import type { Logger } from '../util/logger.js';
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
function run(path: string, store: PluginStateStore, name = 'app', multiline: false | { waitMs: number } = false, extra: { maxBackfillBytes?: number; logger?: Logger } = {}) {
  const source = createFileSource(
    { path, follow: true, pollIntervalMs: 10, multiline, ...(extra.maxBackfillBytes ? { maxBackfillBytes: extra.maxBackfillBytes } : {}) },
    { name, position: store, ...(extra.logger ? { logger: extra.logger } : {}) },
  );
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
      expect(saved).toMatchObject({ inode: oldInode, offset: Buffer.byteLength(line('a1')), line: 1 });

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
    expect(JSON.parse((await store.read('file-position-small'))!)).toMatchObject({ inode: oldInode, offset: Buffer.byteLength(line(long('a1'))), line: 1 });
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
    expect(JSON.parse((await store.read('file-position-moved'))!)).toMatchObject({ inode: (await stat(path)).ino, offset: Buffer.byteLength(line('b1')), line: 1 });
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

const DAY = 24 * 3600 * 1000;
/** Sets when a file was last written, `days` days ago (a rotated file keeps the time of its last line). */
const lastWritten = (path: string, days: number) => utimes(path, new Date(), new Date(Date.now() - days * DAY));
/** logrotate without `dateext`: `app.log.N` becomes `app.log.N+1`, `app.log` becomes `app.log.1`; then the writer creates a new `app.log`. */
async function rotateNumbered(path: string, lines: string[]) {
  for (let n = 4; n >= 1; n--) {
    await rename(`${path}.${n}`, `${path}.${n + 1}`).catch(() => undefined);
    await rename(`${path}.${n}.gz`, `${path}.${n + 1}.gz`).catch(() => undefined);
  }
  await rename(path, `${path}.1`);
  await writeFile(path, lines.map(line).join(''));
}
const messages = (events: ObservedEvent[]) => events.map((event) => event.message);

/**
 * After two `delaycompress` runs while stopped (`b` lines in the file rotated after the saved one,
 * `c` lines in the new one): those are read once, nothing more comes, and the saved file's rest,
 * only in `compressed` now, is counted and named in the warning (returned).
 */
async function expectRestCompressed(second: ReturnType<typeof run>, logger: { lines: string[] }, compressed: string): Promise<string> {
  const reread = await second.take(4);
  expect(messages(reread)).toEqual(['b1', 'b2', 'c1', 'c2']);
  await second.acknowledge(reread);
  expect(await second.nothingMore()).toBeUndefined();
  await second.stop();
  expect(second.health().counters).toMatchObject({ rotatedWhileDown: 1, rotatedNotRead: 1 });
  const warning = logger.lines.find((entry) => entry.startsWith('warn '));
  expect(warning).toContain(compressed);
  return warning!;
}
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = {
    lines,
    debug: () => {},
    info: (message: string) => void lines.push(`info ${message}`),
    warn: (message: string) => void lines.push(`warn ${message}`),
    error: (message: string) => void lines.push(`error ${message}`),
    child: () => logger,
  };
  return logger;
}

/**
 * First run: `a1`..`a3` read, only `a1` acknowledged. While fish is down the writer adds `a4`,
 * logrotate runs, a day of `b` lines, logrotate again, then `c` lines. An older day (`old1`,
 * `old2`), rotated before fish read anything, is beside them all along.
 */
async function twoRotationsWhileDown(path: string, store: PluginStateStore, name: string, rotate: 'numbered' | 'dateext') {
  const older = rotate === 'numbered' ? `${path}.1` : `${path}-20261130`;
  await writeFile(older, ['old1', 'old2'].map(line).join(''));
  await lastWritten(older, 3);
  await writeFile(path, ['a1', 'a2', 'a3'].map(line).join(''));
  const first = run(path, store, name);
  const fromA = await first.take(3);
  await first.acknowledge(fromA.slice(0, 1));
  await first.stop();
  await appendFile(path, line('a4'));
  const [savedFile, between] = rotate === 'numbered' ? [`${path}.2`, `${path}.1`] : [`${path}-20261201`, `${path}-20261202`];
  if (rotate === 'numbered') {
    await rotateNumbered(path, ['b1', 'b2']);
    await rotateNumbered(path, ['c1', 'c2']);
    await lastWritten(`${path}.3`, 3);
  } else {
    await rename(path, savedFile);
    await writeFile(path, ['b1', 'b2'].map(line).join(''));
    await rename(path, between);
    await writeFile(path, ['c1', 'c2'].map(line).join(''));
    // A copy an administrator made of an older file: not named as a rotation, never read.
    await writeFile(`${path}.bak`, ['copy1'].map(line).join(''));
  }
  await lastWritten(savedFile, 2);
  await lastWritten(between, 1);
  return { first, fromA, savedFile, between };
}

describe('file source: several rotations while fish was down', () => {
  it.each([['numbered' as const], ['dateext' as const]])(
    'reads the rest of the saved file, the file rotated after it, then the new one, each line once; an older rotation is not read again (%s)',
    async (rotate) => {
      const path = join(dir, `twice-${rotate}.log`);
      const store = createMemoryStateStore();
      const logger = recordingLogger();
      const { first, fromA, savedFile, between } = await twoRotationsWhileDown(path, store, `twice-${rotate}`, rotate);
      const second = run(path, store, `twice-${rotate}`, false, { logger });
      const reread = await second.take(7);
      expect(messages(reread)).toEqual(['a2', 'a3', 'a4', 'b1', 'b2', 'c1', 'c2']);
      // The lines read in the first run carry the same ids (the dedup recognises them).
      expect(reread.slice(0, 2).map((event) => event.id)).toEqual(fromA.slice(1).map((event) => event.id));
      await second.acknowledge(reread);
      expect(await second.nothingMore()).toBeUndefined();
      await second.stop();
      expect([...first.processed, ...second.processed]).toEqual(['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'c1', 'c2']);
      expect(second.health().counters).toMatchObject({ rotatedWhileDown: 1, rotatedNotRead: 0, backfillExceeded: 0, invalid: 0 });
      expect(logger.lines).toContain(`info ${path} was rotated while fish was down; reading the rest of ${savedFile} (from byte ${line('a1').length}), then ${between}, then ${path}`);
      // All read and acknowledged: the position is in the new file, past its last line.
      expect(JSON.parse((await store.read(`file-position-twice-${rotate}`))!)).toMatchObject({ inode: (await stat(path)).ino, offset: 2 * line('c1').length, line: 2 });
    },
  );

  it('a crash in the middle of the chain resumes in the file being read: no line lost, none read twice', async () => {
    const path = join(dir, 'chain-crash.log');
    const store = createMemoryStateStore();
    const { first, between } = await twoRotationsWhileDown(path, store, 'chain-crash', 'numbered');
    const betweenInode = (await stat(between)).ino;
    const second = run(path, store, 'chain-crash');
    const reread = await second.take(7);
    // Processed up to b1 (the file rotated between), then fish is stopped.
    await second.acknowledge(reread.slice(0, 4));
    await second.stop();
    expect(JSON.parse((await store.read('file-position-chain-crash'))!)).toMatchObject({ inode: betweenInode, offset: line('b1').length, line: 1 });
    const third = run(path, store, 'chain-crash');
    const rest = await third.take(3);
    expect(messages(rest)).toEqual(['b2', 'c1', 'c2']);
    expect(rest.map((event) => event.id)).toEqual(reread.slice(4).map((event) => event.id));
    await third.acknowledge(rest);
    expect(await third.nothingMore()).toBeUndefined();
    await third.stop();
    expect([...first.processed, ...second.processed, ...third.processed]).toEqual(['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'c1', 'c2']);
  });

  it('maxBackfillBytes bounds the whole chain: the oldest bytes are skipped and counted, the newest read', async () => {
    const path = join(dir, 'chain-bounded.log');
    const store = createMemoryStateStore();
    await twoRotationsWhileDown(path, store, 'chain-bounded', 'numbered');
    const size = line('c1').length; // every line has this length
    // The new file (2 lines) and 5 bytes more: reading starts inside b1 (the partial line is skipped).
    const second = run(path, store, 'chain-bounded', false, { maxBackfillBytes: 3 * size + 5 });
    const reread = await second.take(3);
    expect(messages(reread)).toEqual(['b2', 'c1', 'c2']);
    await second.acknowledge(reread);
    expect(await second.nothingMore()).toBeUndefined();
    await second.stop();
    // a2, a3, a4 and b1 but its last 5 bytes.
    expect(second.health().counters).toMatchObject({ backfillExceeded: 1, backfillSkippedBytes: 4 * size - 5, rotatedWhileDown: 1 });
  });

  it('`compress` + `delaycompress`, one rotation while fish was down: the older rotation compressed in the same run is neither read nor reported', async () => {
    const path = join(dir, 'delay-once.log');
    const store = createMemoryStateStore();
    const logger = recordingLogger();
    await writeFile(`${path}.1`, ['old1'].map(line).join(''));
    await lastWritten(`${path}.1`, 2);
    await writeFile(path, ['a1', 'a2'].map(line).join(''));
    const first = run(path, store, 'delay-once');
    await first.acknowledge(await first.take(1));
    await first.stop();
    await lastWritten(path, 1);
    // logrotate: app.log.1 becomes app.log.2, compressed now (stamped now); app.log becomes app.log.1, kept as it is.
    await rotateNumbered(path, ['b1', 'b2']);
    await writeFile(`${path}.2.gz`, gzipSync(await readFile(`${path}.2`)));
    await rm(`${path}.2`);
    const second = run(path, store, 'delay-once', false, { logger });
    const reread = await second.take(3);
    expect(messages(reread)).toEqual(['a2', 'b1', 'b2']);
    await second.acknowledge(reread);
    expect(await second.nothingMore()).toBeUndefined();
    await second.stop();
    expect(second.health().counters).toMatchObject({ rotatedWhileDown: 1, rotatedNotRead: 0 });
    expect(logger.lines.filter((entry) => entry.startsWith('warn '))).toEqual([]);
  });

  it('the saved file compressed while fish was down (`compress`): not guessed at; the new file is read, what was not read is named and counted', async () => {
    const path = join(dir, 'compressed.log');
    const store = createMemoryStateStore();
    const logger = recordingLogger();
    await writeFile(path, ['a1', 'a2'].map(line).join(''));
    const first = run(path, store, 'compressed');
    const fromA = await first.take(2);
    await first.acknowledge(fromA.slice(0, 1));
    await first.stop();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the night goes on after the last save
    await rotateNumbered(path, ['c1 after the rotation', 'c2 after the rotation']);
    await writeFile(`${path}.1.gz`, gzipSync(await readFile(`${path}.1`)));
    await rm(`${path}.1`);
    const second = run(path, store, 'compressed', false, { logger });
    const reread = await second.take(2);
    expect(messages(reread)).toEqual(['c1 after the rotation', 'c2 after the rotation']);
    await second.stop();
    expect(second.health().counters).toMatchObject({ rotatedWhileDown: 1, rotatedNotRead: 1 });
    expect(logger.lines.find((entry) => entry.startsWith('warn '))).toContain(`may be in ${path}.1.gz)`);
  });

  it('`compress` + `delaycompress`, two rotations while fish was down: the saved file is compressed; the file rotated after it (last written after the position was saved) is read, then the new one; older rotations are not', async () => {
    const path = join(dir, 'delaycompress.log');
    const store = createMemoryStateStore();
    const logger = recordingLogger();
    // Older days, rotated before fish read anything: one compressed, one not (delaycompress).
    await writeFile(`${path}.2.gz`, gzipSync(['old1'].map(line).join('')));
    await writeFile(`${path}.1`, ['old2'].map(line).join(''));
    await lastWritten(`${path}.2.gz`, 4);
    await lastWritten(`${path}.1`, 3);
    await writeFile(path, ['a1', 'a2'].map(line).join(''));
    const first = run(path, store, 'delaycompress');
    const fromA = await first.take(2);
    await first.acknowledge(fromA);
    await first.stop();
    await appendFile(path, line('a3'));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the day goes on after the last save
    // logrotate twice (rotate 5, compress, delaycompress): the file rotated before is compressed at the next run.
    for (const lines of [
      ['b1', 'b2'],
      ['c1', 'c2'],
    ]) {
      await rotateNumbered(path, lines);
      await writeFile(`${path}.2.gz`, gzipSync(await readFile(`${path}.2`)));
      await rm(`${path}.2`);
    }
    expect((await stat(`${path}.1`)).mtimeMs).toBeGreaterThan(JSON.parse((await store.read('file-position-delaycompress'))!).savedAt);
    // a3, written after the last save, is only in the compressed file: said and counted, not guessed at.
    const warning = await expectRestCompressed(run(path, store, 'delaycompress', false, { logger }), logger, `${path}.2.gz`);
    expect(warning).toContain(`; reading ${path}.1, then ${path}`);
    expect(logger.lines.join('\n')).not.toContain(`reading ${path}.3`);
  });
});

/**
 * The real logrotate (Debian's `logrotate` package), forced to run (`-f`) with its own state file,
 * as cron or the systemd timer runs it at night. It keeps a compressed file's modification time.
 */
async function logrotate(path: string, directives: string[]) {
  const conf = `${path}.logrotate.conf`;
  await writeFile(conf, `${path} {\n${directives.map((directive) => `  ${directive}\n`).join('')}}\n`);
  try {
    // Debian installs it in /usr/sbin, which a user's PATH may lack.
    await promisify(execFile)(existsSync('/usr/sbin/logrotate') ? '/usr/sbin/logrotate' : 'logrotate', ['-f', '-s', `${path}.logrotate.state`, conf]);
  } catch (error) {
    throw new Error(`logrotate failed (is Debian's logrotate package installed?): ${(error as Error).message}`);
  }
}
const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

describe('file source: the real logrotate ran twice while fish was down', () => {
  it('`rotate 5`, `dateext` with a time in the name, no compression: every line once, the older day not read again', async () => {
    const path = join(dir, 'real-dateext.log');
    const store = createMemoryStateStore();
    await writeFile(`${path}-20261130-1764460800`, line('old1'));
    await lastWritten(`${path}-20261130-1764460800`, 2);
    await writeFile(path, ['a1', 'a2', 'a3'].map(line).join(''));
    const first = run(path, store, 'real-dateext');
    await first.acknowledge(await first.take(1));
    await first.stop();
    await appendFile(path, line('a4'));
    const directives = ['rotate 5', 'dateext', 'dateformat -%Y%m%d-%s', 'create', 'missingok'];
    await logrotate(path, directives);
    await appendFile(path, ['b1', 'b2'].map(line).join(''));
    await pause(1100); // another second: another name
    await logrotate(path, directives);
    await appendFile(path, ['c1', 'c2'].map(line).join(''));
    const second = run(path, store, 'real-dateext');
    const reread = await second.take(7);
    expect(messages(reread)).toEqual(['a2', 'a3', 'a4', 'b1', 'b2', 'c1', 'c2']);
    await second.acknowledge(reread);
    expect(await second.nothingMore()).toBeUndefined();
    await second.stop();
    expect([...first.processed, ...second.processed]).toEqual(['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'c1', 'c2']);
  });

  it('`rotate 5`, `compress`, `delaycompress`: the file rotated after the saved one is read; the rest of the saved one, compressed, is named and counted', async () => {
    const path = join(dir, 'real-delaycompress.log');
    const store = createMemoryStateStore();
    const logger = recordingLogger();
    await writeFile(`${path}.1`, line('old1'));
    await lastWritten(`${path}.1`, 2);
    await writeFile(path, ['a1', 'a2'].map(line).join(''));
    const first = run(path, store, 'real-delaycompress');
    await first.acknowledge(await first.take(2));
    await first.stop();
    await pause(50); // the night goes on after the last save
    await appendFile(path, line('a3'));
    const directives = ['rotate 5', 'compress', 'delaycompress', 'create', 'missingok'];
    await logrotate(path, directives);
    await appendFile(path, ['b1', 'b2'].map(line).join(''));
    await logrotate(path, directives);
    await appendFile(path, ['c1', 'c2'].map(line).join(''));
    const warning = await expectRestCompressed(run(path, store, 'real-delaycompress', false, { logger }), logger, `${path}.2.gz`);
    expect(warning).toContain(`may be in ${path}.2.gz)`);
  });
});
