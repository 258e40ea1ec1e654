import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObservedEvent } from '../contracts/observed-event.js';
import type { Source } from '../contracts/source.js';
import { ManualClock } from '../util/clock.js';
import { createMemoryLogger } from '../util/logger.js';
import { createFileSource } from './file-source.js';

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
    expect(source.health!().counters).toEqual({ lines: 6, events: 3, invalid: 3 });
    expect(logger.lines.filter((line) => line.level === 'warn')).toHaveLength(3);
    // Reading the same file again yields the same ids (dedup across restarts).
    expect((await collect(createFileSource({ path }))).map((event) => event.id)).toEqual(events.map((event) => event.id));
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
