import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileSource } from '@fish-sre/core';
import { appendFile, writeFile } from 'node:fs/promises';
import { createFileStateStore } from '../src/state-store.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('createFileStateStore', () => {
  it('keeps values in files of the plugin folder, replaced whole, and refuses keys that are paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fish-state-'));
    dirs.push(dir);
    const store = createFileStateStore(dir);
    expect(await store.read('loki-position-loki')).toBeUndefined();
    await store.write('loki-position-loki', '{"lastNs":"1"}');
    await store.write('loki-position-loki', '{"lastNs":"2"}');
    expect(await createFileStateStore(dir).read('loki-position-loki')).toBe('{"lastNs":"2"}');
    expect(await readdir(dir)).toEqual(['loki-position-loki.json']);
    await expect(store.write('../escape', 'x')).rejects.toThrow(/invalid state key/);
    await expect(store.read('.hidden')).rejects.toThrow(/invalid state key/);
  });

  it('lets the file source resume across a restart of the process (a new store on the same folder)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fish-state-'));
    dirs.push(dir);
    const path = join(dir, 'app.log');
    await writeFile(path, 'before\n');
    const read = async () => {
      const events = [];
      for await (const event of createFileSource({ path, format: 'text', startAt: 'end' }, { position: createFileStateStore(dir) }).events(new AbortController().signal)) events.push(event.message);
      return events;
    };
    expect(await read()).toEqual([]);
    await appendFile(path, 'while down 1\nwhile down 2\n');
    expect(await read()).toEqual(['while down 1', 'while down 2']);
    expect(await read()).toEqual([]);
  });
});
