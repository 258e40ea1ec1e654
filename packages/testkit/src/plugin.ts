import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FishError,
  FishErrorCode,
  PluginRegistry,
  createMemoryLogger,
  systemClock,
  type CatalogSnapshot,
  type PluginContext,
  type PluginDescriptor,
  type PluginInstanceMap,
  type PluginKind,
} from '@fish-sre/core';

/**
 * A port nobody listens on right now (the OS picks it, then the listener closes): for servers a
 * test starts as a separate process (Prometheus, sshd), which cannot be handed port 0.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error(`no TCP port from ${host}`);
  return address.port;
}

/** An empty catalog, for plugins that read `context.catalog()` but are not tested against patterns. */
export function emptyCatalog(): CatalogSnapshot {
  return { patterns: [], scriptsDir: tmpdir(), loadedFrom: '(test)', loadedAt: 0, digest: 'empty' };
}

/**
 * The context core hands to a plugin factory, for tests: a memory logger whose lines can be read
 * back, the system clock, an empty catalog, a fresh temporary data folder, the global `fetch`.
 * Override what the test cares about.
 */
export function createTestPluginContext(overrides: Partial<PluginContext> = {}): PluginContext & { logger: ReturnType<typeof createMemoryLogger> } {
  return {
    name: 'test',
    logger: createMemoryLogger(),
    clock: systemClock,
    catalog: emptyCatalog,
    dataDir: mkdtempSync(join(tmpdir(), 'fish-plugin-')),
    fetch: globalThis.fetch,
    ...overrides,
  } as PluginContext & { logger: ReturnType<typeof createMemoryLogger> };
}

export interface TestPluginDescriptorOptions<Kind extends PluginKind> {
  descriptor: PluginDescriptor<Kind>;
  /** Options that make a working instance (they go through the registry, as a config file's would). */
  options: Record<string, unknown>;
  /** The package's package.json, to check that the descriptor's name and version are the package's. */
  packageJson?: { name: string; version: string };
  /**
   * Also load the descriptor by package name, as a config naming the package does (the package must
   * be built and installed where the test runs). @default true
   */
  loadByPackageName?: boolean;
  /** Context for the created instance. @default createTestPluginContext() */
  context?: () => PluginContext;
}

/** A near miss of `key` (its last two letters swapped, or one letter dropped) to stand for a typo. */
function typoOf(key: string): string {
  if (key.length >= 4) return `${key.slice(0, -2)}${key.at(-1)}${key.at(-2)}`;
  return `${key}x`;
}

/**
 * What every plugin package's descriptor must do, as a suite: it loads through the registry (by
 * value and by package name), creates an instance that names itself, and refuses bad options
 * with errors that name the config path, a misspelt option with a "did you mean" suggestion.
 */
export function testPluginDescriptor<Kind extends PluginKind>(options: TestPluginDescriptorOptions<Kind>): void {
  const { descriptor } = options;
  const where = `plugins[0].options`;
  describe(`Plugin descriptor: ${descriptor.packageName} (${descriptor.kind} ${descriptor.type})`, () => {
    const created: Array<PluginInstanceMap[Kind]> = [];
    const context = options.context ?? (() => createTestPluginContext());
    afterAll(async () => {
      for (const instance of created) await (instance as { close?: () => Promise<void> }).close?.();
    });

    it('is a v1 descriptor the registry accepts, named after its package', () => {
      expect(descriptor.specificationVersion).toBe('v1');
      expect(descriptor.type).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(descriptor.version).toMatch(/^\d+\.\d+\.\d+(?:-[\w.]+)?$/);
      if (options.packageJson) {
        expect(descriptor.packageName).toBe(options.packageJson.name);
        expect(descriptor.version).toBe(options.packageJson.version);
      }
      const registry = new PluginRegistry([]).register(descriptor as PluginDescriptor);
      expect(registry.list(descriptor.kind).map((entry) => entry.type)).toEqual([descriptor.type]);
    });

    if (options.loadByPackageName !== false) {
      it('loads by package name and type, as a config file naming the package does', async () => {
        // As a config names it: `package: <name>` and the descriptor's `type` (a package may
        // export several plugins of one kind, like source-prom's prometheus and alertmanager).
        const loaded = await new PluginRegistry([]).resolve(descriptor.kind, descriptor.type, descriptor.packageName);
        expect(loaded.kind).toBe(descriptor.kind);
        expect(loaded.type).toBe(descriptor.type);
        expect(loaded.packageName).toBe(descriptor.packageName);
      });
    }

    it('creates an instance through the registry, with the v1 contract and a name', async () => {
      const registry = new PluginRegistry([descriptor as PluginDescriptor]);
      const instance = await registry.create(descriptor.kind, descriptor.type, options.options, context(), where);
      created.push(instance);
      expect(instance.specificationVersion).toBe('v1');
      expect(typeof instance.name).toBe('string');
      expect(instance.name.length).toBeGreaterThan(0);
    });

    const misspelt = Object.keys(options.options).find((candidate) => candidate.length >= 3);
    // A plugin without options has nothing to misspell; the unknown-option case below still runs.
    if (misspelt !== undefined)
      it('refuses a misspelt option, naming the config path and the option it was meant to be', async () => {
        const key = misspelt;
        const typo = typoOf(key!);
        const { [key!]: value, ...rest } = options.options;
        const registry = new PluginRegistry([descriptor as PluginDescriptor]);
        const error = await registry.create(descriptor.kind, descriptor.type, { ...rest, [typo]: value }, context(), where).then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        expect(FishError.hasCode(error, FishErrorCode.PLUGIN_OPTIONS_INVALID), String(error)).toBe(true);
        const message = (error as FishError).message;
        expect(message).toContain(`${where}.${typo}`);
        expect(message).toContain(`did you mean "${key}"?`);
      });

    it('refuses an unknown option and a value of the wrong type, naming the path', async () => {
      const registry = new PluginRegistry([descriptor as PluginDescriptor]);
      const unknown = await registry.create(descriptor.kind, descriptor.type, { ...options.options, zzNotAnOption: true }, context(), where).catch((thrown: unknown) => thrown);
      expect(FishError.hasCode(unknown, FishErrorCode.PLUGIN_OPTIONS_INVALID), String(unknown)).toBe(true);
      expect((unknown as FishError).message).toContain(`${where}.zzNotAnOption`);
      const key = Object.keys(options.options)[0];
      if (key === undefined) return;
      const wrongValue = typeof options.options[key!] === 'number' ? 'not a number' : 12_345;
      const wrong = await registry.create(descriptor.kind, descriptor.type, { ...options.options, [key!]: wrongValue }, context(), where).catch((thrown: unknown) => thrown);
      expect(FishError.hasCode(wrong, FishErrorCode.PLUGIN_OPTIONS_INVALID), String(wrong)).toBe(true);
      expect((wrong as FishError).message).toContain(`${where}.${key}`);
    });
  });
}
