import type { PluginStateStore } from './state-store.js';
import type { z } from 'zod';
import type { AuditStore } from './audit-store.js';
import type { Executor } from './executor.js';
import type { LLMProvider } from './llm-provider.js';
import type { Notifier } from './notifier.js';
import type { Source } from './source.js';
import type { CatalogSnapshot } from '../catalog/catalog-schema.js';
import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';

/** The five kinds of plugin a config can name (the catalog is not a plugin). */
export type PluginKind = 'source' | 'notifier' | 'executor' | 'llm' | 'audit';

/** What a descriptor's `create` returns, by kind. */
export interface PluginInstanceMap {
  /** A `sources[]` entry. */
  source: Source;
  /** The `notifier`. */
  notifier: Notifier;
  /** The `executor`. */
  executor: Executor;
  /** The `llm`. */
  llm: LLMProvider;
  /** The `audit` store. */
  audit: AuditStore;
}

/** What core hands to a plugin's factory. Everything with I/O is injectable for tests. */
export interface PluginContext {
  /** Instance name from the config (`sources[].name`), defaults to the plugin type. */
  name: string;
  /** Logger scoped to this instance; log with it, never with `console`. Secrets never go in a log line. */
  logger: Logger;
  /** The time source: use it (not `Date.now()`) so that tests can drive time. */
  clock: Clock;
  /** Current catalog (it may be reloaded: call this rather than keep the value). */
  catalog: () => CatalogSnapshot;
  /** Folder where the plugin may keep state (cursor files, caches). */
  dataDir: string;
  /** The `fetch` to use for HTTP (tests inject one); pass it to `httpRequest`. */
  fetch: typeof globalThis.fetch;
  /** Durable key-value state kept across restarts (a source's read position); absent: none is kept. */
  state?: PluginStateStore;
}

/**
 * What every plugin package exports, so that a config file can name `type: loki` (or a
 * third-party package) and the app composes it without knowing it.
 */
export interface PluginDescriptor<Kind extends PluginKind = PluginKind, Options = unknown> {
  /** Which contract `create` returns. */
  kind: Kind;
  /** The name used in config files (`loki`, `ntfy`, `ssh`, `claude`, `sqlite` ...). */
  type: string;
  /** The plugin package name and version, for error messages and `fish-sre doctor`. */
  packageName: string;
  /** The plugin package's version (its `VERSION`, read from package.json at build time). */
  version: string;
  /** Major version of the contracts it implements; core refuses others. */
  specificationVersion: 'v1';
  /** Validates the plugin's options; failures name the config path. */
  optionsSchema: z.ZodType<Options>;
  /**
   * Builds an instance from validated options. Called by `PluginRegistry.create` once per config
   * entry, after `optionsSchema` parsed the options (durations with units).
   * @throws FishError `PLUGIN_OPTIONS_INVALID` for options the schema cannot express (two that
   * exclude each other), naming the option.
   */
  create(options: Options, context: PluginContext): PluginInstanceMap[Kind] | Promise<PluginInstanceMap[Kind]>;
}

/** Identity helper that keeps the option type inferred from the schema. */
export function definePlugin<Kind extends PluginKind, Schema extends z.ZodType>(descriptor: {
  kind: Kind;
  type: string;
  packageName: string;
  version: string;
  optionsSchema: Schema;
  create(options: z.output<Schema>, context: PluginContext): PluginInstanceMap[Kind] | Promise<PluginInstanceMap[Kind]>;
}): PluginDescriptor<Kind, z.output<Schema>> {
  return { ...descriptor, specificationVersion: 'v1' } as PluginDescriptor<Kind, z.output<Schema>>;
}
