import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { PluginContext } from './contracts/plugin.js';
import { definePlugin } from './contracts/plugin.js';
import type { Notifier } from './contracts/notifier.js';
import { FishError, FishErrorCode } from './errors.js';
import { PluginRegistry, manage } from './registry.js';
import { ManualClock } from './util/clock.js';
import { silentLogger } from './util/logger.js';
import { DurationSchema } from './util/duration.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fish-registry-'));
  await writeFile(join(dir, 'app.log'), '{"message":"hello"}\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const context = (name: string): PluginContext => ({
  name,
  logger: silentLogger,
  clock: new ManualClock(),
  catalog: () => ({ patterns: [], scriptsDir: dir, loadedFrom: dir, loadedAt: 0, digest: '' }),
  dataDir: dir,
  fetch: globalThis.fetch,
});
const hasCode = (code: string) => (error: unknown) => FishError.hasCode(error, code as FishError['code']);

describe('PluginRegistry', () => {
  it('resolves the built-ins and creates working instances', async () => {
    const registry = new PluginRegistry();
    expect((await registry.resolve('source', 'file')).packageName).toBe('@fish-sre/core');
    expect((await registry.resolve('executor', 'local')).type).toBe('local');
    expect((await registry.resolve('audit', 'memory')).kind).toBe('audit');
    expect((await registry.resolve('notifier', 'terminal')).kind).toBe('notifier');
    const source = await registry.create('source', 'file', { path: join(dir, 'app.log') }, context('replay'), 'sources[0]');
    expect(source.name).toBe('replay');
    const events = [];
    for await (const event of source.events(new AbortController().signal)) events.push(event);
    expect(events.map((event) => event.message)).toEqual(['hello']);
    const audit = await registry.create('audit', 'memory', undefined, context('audit'), 'audit');
    expect(await audit.listProposals()).toEqual([]);
  });

  it('lists the available types when a type is unknown', async () => {
    const registry = new PluginRegistry();
    await expect(registry.resolve('source', 'lokki')).rejects.toSatisfy(
      (error: unknown) => hasCode(FishErrorCode.PLUGIN_UNKNOWN)(error) && (error as Error).message.includes('unknown source type "lokki" (available: file;'),
    );
    await expect(registry.resolve('llm', 'gpt')).rejects.toThrow(/available: none/);
    await expect(registry.resolve('notifier', '@acme/fish-notify-does-not-exist')).rejects.toSatisfy(hasCode(FishErrorCode.PLUGIN_UNKNOWN));
  });

  it('names the config path when options are invalid', async () => {
    const registry = new PluginRegistry();
    const attempt = registry.create('source', 'file', { path: '', format: 'xml' }, context('replay'), 'sources[2]');
    await expect(attempt).rejects.toSatisfy(hasCode(FishErrorCode.PLUGIN_OPTIONS_INVALID));
    await expect(registry.create('source', 'file', { path: '', format: 'xml' }, context('replay'), 'sources[2]')).rejects.toThrow(
      /\[file\] invalid options: sources\[2\]\.path: .*; sources\[2\]\.format: /,
    );
    await expect(registry.create('notifier', 'terminal', { colour: true }, context('t'), 'notifier')).rejects.toThrow(
      /invalid options: notifier\.colour: unknown option "colour" \(did you mean "color"\?\); known options: color/,
    );
  });

  it('refuses a descriptor that is not one, or of an unsupported contract version', () => {
    const registry = new PluginRegistry([]);
    expect(() => registry.register({ kind: 'source' } as never)).toThrow(expect.objectContaining({ code: FishErrorCode.PLUGIN_INVALID }));
    const future = { ...definePlugin({ kind: 'source', type: 'x', packageName: 'x', version: '1', optionsSchema: z.object({}), create: () => ({}) as never }), specificationVersion: 'v2' };
    expect(() => registry.register(future as never)).toThrow(expect.objectContaining({ code: FishErrorCode.PLUGIN_VERSION_UNSUPPORTED }));
  });
});

describe('durations in plugin options', () => {
  const created: number[] = [];
  const pausing = definePlugin({
    kind: 'notifier',
    type: 'pausing',
    packageName: 'pausing',
    version: '1',
    optionsSchema: z.object({ delay: DurationSchema.default(1000) }).strict(),
    create: (options: { delay: number }) => {
      created.push(options.delay);
      return { specificationVersion: 'v1', name: 'pausing', propose: async () => ({ id: '1', channel: 'x' }), notify: async () => ({ id: '1', channel: 'x' }) } as Notifier;
    },
  });

  it('refuses a bare number from the config, naming the option and the unit it needs', async () => {
    const registry = new PluginRegistry();
    registry.register(pausing);
    await expect(registry.create('notifier', 'pausing', { delay: 50 }, context('p'), 'notifier.options')).rejects.toThrow(
      /notifier\.options\.delay: 50 has no unit: write a duration with its unit, like "50s" or "50ms"/,
    );
    await registry.create('notifier', 'pausing', { delay: '50ms' }, context('p'), 'notifier.options');
    await registry.create('notifier', 'pausing', {}, context('p'), 'notifier.options');
    expect(created).toEqual([50, 1000]);
  });

  it('takes a number as milliseconds when the options come from code', () => {
    expect(pausing.optionsSchema.parse({ delay: 50 })).toEqual({ delay: 50 });
  });
});

describe('manage', () => {
  function fakeNotifier(): Notifier & { closes: number } {
    return {
      specificationVersion: 'v1',
      name: 'fake',
      closes: 0,
      async propose() {
        return { id: '1', channel: 'fake' };
      },
      async notify() {
        return { id: '2', channel: 'fake' };
      },
      async close() {
        this.closes++;
      },
    };
  }

  it('closes once and refuses calls after close', async () => {
    const inner = fakeNotifier();
    const managed = manage(inner);
    expect(await managed.notify({ kind: 'info', title: 't', body: 'b', priority: 'default' })).toEqual({ id: '2', channel: 'fake' });
    await Promise.all([managed.close!(), managed.close!(), managed.close!()]);
    await managed.close!();
    expect(inner.closes).toBe(1);
    expect(() => managed.notify({ kind: 'info', title: 't', body: 'b', priority: 'default' })).toThrow(
      expect.objectContaining({ code: FishErrorCode.PLUGIN_DISPOSED, message: expect.stringContaining('[fake] notify() called after close()') }),
    );
    expect(managed.name).toBe('fake');
  });

  it('refuses calls after close even when the plugin has no close of its own', async () => {
    const managed = manage({ name: 'bare', ping: () => 'pong' } as { name: string; ping(): string; close?: () => Promise<void> });
    expect(managed.ping()).toBe('pong');
    await managed.close?.();
    expect(() => managed.ping()).toThrow(expect.objectContaining({ code: FishErrorCode.PLUGIN_DISPOSED }));
  });
});
