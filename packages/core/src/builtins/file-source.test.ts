import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObservedEvent } from '../contracts/observed-event.js';
import type { Source } from '../contracts/source.js';
import { ManualClock } from '../util/clock.js';
import { createMemoryLogger } from '../util/logger.js';
import { normaliseLevel } from '../contracts/observed-event.js';
import { createFileSource } from './file-source.js';
import { createMemoryStateStore } from '../contracts/state-store.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fish-file-source-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(source: Source, signal = new AbortController().signal): Promise<ObservedEvent[]> {
  const events: ObservedEvent[] = [];
  for await (const event of source.events(signal)) events.push(event);
  return events;
}

/** Reads from a following source until `count` events arrived (bounded wait). */
async function take(iterator: AsyncIterator<ObservedEvent>, count: number): Promise<ObservedEvent[]> {
  const events: ObservedEvent[] = [];
  while (events.length < count) {
    const next = await Promise.race([iterator.next(), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000))]);
    if (next === 'timeout') throw new Error(`only ${events.length} of ${count} events arrived`);
    if (next.done) break;
    events.push(next.value);
  }
  return events;
}

describe('normaliseLevel', () => {
  it('maps level spellings in any case, and anything else (Object.prototype member names too) to unknown', () => {
    expect(['ERR', 'Warning', 'fatal', 'notice', 'constructor', '__proto__', 'toString', undefined, ''].map(normaliseLevel)).toEqual([
      'error',
      'warn',
      'critical',
      'info',
      'unknown',
      'unknown',
      'unknown',
      'unknown',
      'unknown',
    ]);
  });

  it('reads the levels of Go slog (an offset after the name), zap, java.util.logging and PostgreSQL; a huge level is no level', () => {
    const spellings = [
      'ERROR+2',
      'WARN-1',
      'INFO+3',
      'DEBUG-4',
      'DEBUG1',
      'dpanic',
      'SEVERE',
      'FINEST',
      'CONFIG',
      'LOG',
      'error+x',
      'ERROR+12345',
      `${'9'.repeat(262_144)}`,
      `error${'9'.repeat(262_144)}`,
    ];
    expect(spellings.map(normaliseLevel)).toEqual(['error', 'warn', 'info', 'debug', 'unknown', 'critical', 'error', 'debug', 'debug', 'info', 'unknown', 'unknown', 'unknown', 'unknown']);
  });

  it('gives the file source the levels every source uses: short forms of logrus, zap and Go loggers, padded labels', async () => {
    const path = join(dir, 'levels.jsonl');
    const spellings = ['erro', 'ERRO', 'eror', 'wrn', 'inf', 'dbg', 'informational', 'emergency', ' warn ', 'info', 'warn', 'error', 'debug', 'critical', 'unknown'];
    await writeFile(path, `${spellings.map((level, index) => JSON.stringify({ message: `line ${index}`, level })).join('\n')}\n`);
    const source = createFileSource({ path }, { name: 'levels', clock: new ManualClock(0), logger: createMemoryLogger() });
    const events = await collect(source);
    expect(events.map((event) => event.level)).toEqual(['error', 'error', 'error', 'warn', 'info', 'debug', 'info', 'critical', 'warn', 'info', 'warn', 'error', 'debug', 'critical', 'unknown']);
  });
});

describe('createFileSource', () => {
  it('reads jsonl lines, normalising fields; invalid lines are counted and skipped', async () => {
    const path = join(dir, 'events.jsonl');
    await writeFile(
      path,
      [
        JSON.stringify({ message: 'container exited', host: 'penny', service: 'homepage', level: 'ERR', time: '2026-01-01T10:00:00Z', labels: { container: 'homepage' } }),
        'this is not json',
        JSON.stringify({ msg: 'uses msg', timestamp: 1767261600 }),
        '',
        JSON.stringify({ nothing: 'here' }),
        JSON.stringify({ line: 'uses line', level: 'fatal', time: 1767261600123 }),
        JSON.stringify({ message: 42 }),
      ].join('\n') + '\n',
    );
    const logger = createMemoryLogger();
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const source = createFileSource({ path, defaultHost: 'demo', defaultService: 'svc' }, { name: 'replay', clock, logger });
    const events = await collect(source);
    expect(events.map((event) => event.message)).toEqual(['container exited', 'uses msg', 'uses line']);
    expect(events[0]).toMatchObject({ kind: 'log', source: 'replay', host: 'penny', service: 'homepage', level: 'error', time: Date.UTC(2026, 0, 1, 10), labels: { container: 'homepage' } });
    expect(events[1]).toMatchObject({ host: 'demo', service: 'svc', level: 'unknown', time: 1767261600 * 1000 });
    expect(events[2]).toMatchObject({ level: 'critical', time: 1767261600123 });
    expect(new Set(events.map((event) => event.id)).size).toBe(3);
    expect(source.health!().counters).toEqual({ lines: 6, events: 3, invalid: 3, joinedLines: 0, cutEvents: 0, backfillExceeded: 0, backfillSkippedBytes: 0, rotatedWhileDown: 0, rotatedNotRead: 0 });
    expect(logger.lines.filter((line) => line.level === 'warn')).toHaveLength(3);
    // Reading the same file again yields the same ids (dedup across restarts).
    expect((await collect(createFileSource({ path }))).map((event) => event.id)).toEqual(events.map((event) => event.id));
  });

  it('joins continuation lines (Redis config block, Go panic) of one stream into one event, in file order', async () => {
    const path = join(dir, 'multi.log');
    // redis src/config.c loaderr, and a Go nil-dereference panic (runtime/panic.go, traceback.go).
    const lines = [
      '1:C 20 Apr 2026 08:45:00.001 # Configuration loaded',
      '',
      '*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***',
      'Reading the configuration file, at line 2',
      '>>> \'rename-command FLUSHALL ""\'',
      'Bad directive or wrong number of arguments',
      'panic: runtime error: invalid memory address or nil pointer dereference',
      '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f0d6]',
      '',
      'goroutine 1 [running]:',
      'main.main()',
      '\t/app/main.go:11 +0x1d',
      'done',
    ];
    await writeFile(path, `${lines.join('\n')}\n`);
    const source = createFileSource({ path, format: 'text' });
    const events = await collect(source);
    expect(events.map((event) => event.message)).toEqual([
      lines[0],
      lines.slice(2, 6).join('\n'),
      lines
        .slice(6, 12)
        .filter((line) => line !== '')
        .join('\n'),
      'done',
    ]);
    // Blank lines are not events (nor kept inside one).
    expect(source.health!().counters).toMatchObject({ lines: 11, events: 4, joinedLines: 7 });
    expect(new Set(events.map((event) => event.id)).size).toBe(4);
    const separate = await collect(createFileSource({ path, format: 'text', multiline: false }));
    expect(separate).toHaveLength(11);
  });

  it('resumes after a restart from the saved offset and inode: lines written while stopped are read once', async () => {
    const path = join(dir, 'resume.log');
    const state = createMemoryStateStore();
    await writeFile(path, 'one\ntwo\n');
    // Production start: only new lines. The position (end of the file) is saved at once.
    const first = await collect(createFileSource({ path, format: 'text', startAt: 'end' }, { position: state }));
    expect(first).toEqual([]);
    expect(JSON.parse(state.values.get('file-position-file')!)).toMatchObject({ offset: 8, line: 0 });
    // Stopped; three lines are written, the last one still without its newline.
    await appendFile(path, 'three\nfour\nfi');
    const resumed = await collect(createFileSource({ path, format: 'text', startAt: 'end' }, { position: state }));
    expect(resumed.map((event) => event.message)).toEqual(['three', 'four', 'fi']);
    expect(JSON.parse(state.values.get('file-position-file')!)).toMatchObject({ offset: 19, line: 2 });
    await appendFile(path, 've\n');
    const again = await collect(createFileSource({ path, format: 'text', startAt: 'end' }, { position: state }));
    expect(again.map((event) => event.message)).toEqual(['five']);
    // Line numbers (and so ids) continue from the saved position rather than starting over.
    expect(new Set([...resumed, ...again].map((event) => event.id)).size).toBe(4);
  });

  it('reads a file replaced while stopped from its start, and skips what is beyond maxBackfillBytes (counted)', async () => {
    const path = join(dir, 'rotated.log');
    const state = createMemoryStateStore();
    await writeFile(path, 'old 1\nold 2\n');
    await collect(createFileSource({ path, format: 'text' }, { position: state }));
    await rm(path);
    await writeFile(path, 'new 1\n');
    const rotated = createFileSource({ path, format: 'text', startAt: 'end' }, { position: state });
    expect((await collect(rotated)).map((event) => event.message)).toEqual(['new 1']);
    expect(rotated.health!().counters).toMatchObject({ rotatedWhileDown: 1 });
    await appendFile(path, `${'x'.repeat(100)}\nlast\n`);
    const bounded = createFileSource({ path, format: 'text', maxBackfillBytes: 20 }, { position: state });
    expect((await collect(bounded)).map((event) => event.message)).toEqual(['last']);
    expect(bounded.health!().counters).toMatchObject({ backfillExceeded: 1 });
  });

  it('reads text lines with the clock time and default host/service', async () => {
    const path = join(dir, 'plain.log');
    await writeFile(path, 'first line\nsecond line\n');
    const clock = new ManualClock(1_000);
    const events = await collect(createFileSource({ path, format: 'text', defaultHost: 'penny', defaultService: 'kernel' }, { clock }));
    expect(events.map((event) => [event.message, event.time, event.host, event.service, event.level])).toEqual([
      ['first line', 1_000, 'penny', 'kernel', 'unknown'],
      ['second line', 1_000, 'penny', 'kernel', 'unknown'],
    ]);
  });

  it('follows appended lines, never re-reads old ones, waits for a line to be complete, and stops on abort', async () => {
    const path = join(dir, 'follow.log');
    await writeFile(path, 'one\ntwo'); // the last line is still being written
    const controller = new AbortController();
    const source = createFileSource({ path, format: 'text', follow: true, pollIntervalMs: 10 });
    const iterator = source.events(controller.signal)[Symbol.asyncIterator]();
    expect((await take(iterator, 1)).map((event) => event.message)).toEqual(['one']);
    await appendFile(path, ' halves\nthree\n');
    expect((await take(iterator, 2)).map((event) => event.message)).toEqual(['two halves', 'three']);
    await appendFile(path, 'four\n');
    expect((await take(iterator, 1)).map((event) => event.message)).toEqual(['four']);
    expect(source.health!().state).toBe('connected');
    controller.abort();
    const end = await Promise.race([iterator.next(), new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 2000))]);
    expect(end).toEqual({ done: true, value: undefined });
    expect(source.health!()).toMatchObject({ state: 'down', counters: { events: 4 } });
  });

  it('never saves a position past a message still being joined: a kill re-reads the whole block once', async () => {
    // redis src/config.c loaderr: the block arrives line by line; fish is killed in the middle of it.
    const path = join(dir, 'joining.log');
    const state = createMemoryStateStore();
    const saved = () => JSON.parse(state.values.get('file-position-file')!) as { offset: number; line: number };
    const before = '1:C 20 Apr 2026 08:45:00.001 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo\n';
    const header = '*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***\nReading the configuration file, at line 2\n';
    const rest = '>>> \'rename-command FLUSHALL ""\'\nBad directive or wrong number of arguments\n';
    const after = '1:C 20 Apr 2026 08:45:09.000 # Configuration loaded\n';
    await writeFile(path, before + header);
    const options = { path, format: 'text' as const, follow: true, pollIntervalMs: 10, multiline: { maxLines: 200, maxLength: 16_384, waitMs: 60_000 } };
    const killed = new AbortController();
    const first = createFileSource(options, { position: state }).events(killed.signal)[Symbol.asyncIterator]();
    // The first line is handed on once the block starts; the block waits for its end.
    expect((await take(first, 1)).map((event) => event.message)).toEqual([before.trimEnd()]);
    const next = first.next();
    for (let i = 0; i < 100 && saved().offset !== before.length; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    // Saved while running (what a kill leaves): the start of the block, not the end of what was read.
    expect(saved()).toEqual(expect.objectContaining({ offset: before.length, line: 1 }));
    // Killed here: the restart finds what was saved so far (a copy, the first reader is left alone).
    const afterKill = createMemoryStateStore();
    await afterKill.write('file-position-file', state.values.get('file-position-file')!);
    // While down, the block is finished and another line follows.
    await appendFile(path, rest + after);
    const restarted = new AbortController();
    const second = createFileSource({ ...options, multiline: { ...options.multiline, waitMs: 20 } }, { position: afterKill })
      .events(restarted.signal)
      [Symbol.asyncIterator]();
    const events = await take(second, 2);
    // Asking for the next one is what tells the source the last one was taken (as the engine's pump does).
    const last = second.next();
    restarted.abort();
    expect(await last).toEqual({ done: true, value: undefined });
    expect(events.map((event) => event.message)).toEqual([(header + rest).trimEnd(), after.trimEnd()]);
    killed.abort();
    await next;
    const savedAfterKill = JSON.parse(afterKill.values.get('file-position-file')!) as { offset: number };
    expect(savedAfterKill.offset).toBe((before + header + rest + after).length);
  });

  it('on a graceful stop hands on the block being joined, and saves the position after it', async () => {
    const path = join(dir, 'stopping.log');
    const state = createMemoryStateStore();
    const saved = () => JSON.parse(state.values.get('file-position-file')!) as { offset: number; line: number };
    // Go src/runtime/panic.go: the panic line, a blank line, the goroutine header and its frames.
    const block =
      'panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1f2b]\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1b\n';
    await writeFile(path, block);
    const options = { path, format: 'text' as const, follow: true, pollIntervalMs: 10, multiline: { maxLines: 200, maxLength: 16_384, waitMs: 60_000 } };
    const stopped = new AbortController();
    const source = createFileSource(options, { position: state });
    const iterator = source.events(stopped.signal, { acknowledges: true })[Symbol.asyncIterator]();
    const next = iterator.next();
    for (let i = 0; i < 100 && source.health!().counters['lines'] !== 6; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(saved().offset).toBe(0);
    stopped.abort();
    const flushed = await next;
    expect(flushed.done).toBe(false);
    // The text reader skips blank lines.
    expect((flushed.value as ObservedEvent).message).toBe(block.replace('\n\n', '\n').trimEnd());
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    // Not acknowledged yet: a kill now would read it again.
    expect(saved().offset).toBe(0);
    await source.acknowledge!(flushed.value as ObservedEvent);
    expect(saved()).toEqual(expect.objectContaining({ offset: block.length, line: 6 }));
    await appendFile(path, 'after the restart\n');
    expect((await collect(createFileSource({ ...options, follow: false }, { position: state }))).map((event) => event.message)).toEqual(['after the restart']);
  });

  it('with acknowledgements, saves a position only past messages the consumer acknowledged, in file order', async () => {
    const path = join(dir, 'acknowledged.log');
    const state = createMemoryStateStore();
    const saved = () => JSON.parse(state.values.get('file-position-file') ?? '{"offset":-1}') as { offset: number; line: number };
    await writeFile(path, 'a\nbb\nccc\n');
    const options = { path, format: 'text' as const, follow: true, pollIntervalMs: 10, multiline: false as const };
    const running = new AbortController();
    const source = createFileSource(options, { position: state });
    const iterator = source.events(running.signal, { acknowledges: true })[Symbol.asyncIterator]();
    const [a, b, c] = await take(iterator, 3);
    // All three were taken (the consumer asked for the next one) but none is processed yet: queued in a bus.
    const pending = iterator.next();
    for (let i = 0; i < 50 && saved().offset !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(saved().offset).toBe(0);
    await source.acknowledge!(a!);
    expect(saved()).toEqual(expect.objectContaining({ offset: 2, line: 1 }));
    // Out of order: c is done, b is not; the position stays before b.
    await source.acknowledge!(c!);
    expect(saved().offset).toBe(2);
    // Killed now: b and c are read again (at least once), a is not.
    const restarted = createMemoryStateStore();
    await restarted.write('file-position-file', state.values.get('file-position-file')!);
    expect((await collect(createFileSource({ ...options, follow: false }, { position: restarted }))).map((event) => event.message)).toEqual(['bb', 'ccc']);
    await source.acknowledge!(b!);
    expect(saved()).toEqual(expect.objectContaining({ offset: 9, line: 3 }));
    // An event it did not yield, or one acknowledged twice, changes nothing.
    expect(await source.acknowledge!(b!)).toBeUndefined();
    expect(source.acknowledge!({ ...a!, id: 'other' })).toBeUndefined();
    running.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(saved().offset).toBe(9);
  });

  it('with acknowledgements, keeps up with thousands of lines acknowledged as they are processed', async () => {
    const path = join(dir, 'many.log');
    const state = createMemoryStateStore();
    const text = Array.from({ length: 3000 }, (_, index) => `line ${index}\n`).join('');
    await writeFile(path, text);
    const source = createFileSource({ path, format: 'text', multiline: false }, { position: state });
    let count = 0;
    const saves: Array<Promise<void> | void> = [];
    for await (const event of source.events(new AbortController().signal, { acknowledges: true })) {
      count++;
      // Processed a little later than taken, as behind a queue.
      if (count % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
      saves.push(source.acknowledge!(event));
    }
    await Promise.all(saves);
    expect(count).toBe(3000);
    expect(JSON.parse(state.values.get('file-position-file')!)).toEqual(expect.objectContaining({ offset: text.length, line: 3000 }));
  });

  it('a message yielded but not taken (the consumer stopped) is read again, once', async () => {
    const path = join(dir, 'untaken.log');
    const state = createMemoryStateStore();
    await writeFile(path, 'a\nb\nc\n');
    const iterator = createFileSource({ path, format: 'text', multiline: false }, { position: state }).events(new AbortController().signal)[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.message).toBe('a');
    expect((await iterator.next()).value?.message).toBe('b');
    // The consumer could not pass 'b' on (its queue closed) and stops here.
    await iterator.return?.(undefined);
    expect((await collect(createFileSource({ path, format: 'text', multiline: false }, { position: state }))).map((event) => event.message)).toEqual(['b', 'c']);
  });

  it('without follow, a last line lacking its newline is still read', async () => {
    const path = join(dir, 'unterminated.log');
    await writeFile(path, 'a\nb');
    expect((await collect(createFileSource({ path, format: 'text' }))).map((event) => event.message)).toEqual(['a', 'b']);
  });

  it('reports a missing file through check()', async () => {
    const source = createFileSource({ path: join(dir, 'missing.log') });
    expect(await source.check!()).toMatchObject({ ok: false });
    expect(await createFileSource({ path: join(dir, 'plain.log') }).check!()).toMatchObject({ ok: true });
  });
});

describe('createFileSource startAt', () => {
  it("'end' yields only lines appended after the source started", async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fish-file-end-'));
    const path = join(directory, 'app.jsonl');
    await writeFile(path, `${JSON.stringify({ message: 'old line 1' })}\n${JSON.stringify({ message: 'old line 2' })}\n`);
    const source = createFileSource({ path, follow: true, pollIntervalMs: 20, startAt: 'end' });
    const controller = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of source.events(controller.signal)) {
        seen.push(event.message);
        if (seen.length === 1) controller.abort();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await appendFile(path, `${JSON.stringify({ message: 'new line' })}\n`);
    await reading;
    expect(seen).toEqual(['new line']);
  });
});
