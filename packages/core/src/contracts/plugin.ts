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

export type PluginKind = 'source' | 'notifier' | 'executor' | 'llm' | 'audit';

export interface PluginInstanceMap {
  source: Source;
  notifier: Notifier;
  executor: Executor;
  llm: LLMProvider;
  audit: AuditStore;
}

/** What core hands to a plugin's factory. Everything with I/O is injectable for tests. */
export interface PluginContext {
  /** Instance name from the config (`sources[].name`), defaults to the plugin type. */
  name: string;
  logger: Logger;
  clock: Clock;
  /** Current catalog (it may be reloaded: call this rather than keep the value). */
  catalog: () => CatalogSnapshot;
  /** Folder where the plugin may keep state (cursor files, caches). */
  dataDir: string;
  fetch: typeof globalThis.fetch;
  /** Durable key-value state kept across restarts (a source's read position); absent: none is kept. */
  state?: PluginStateStore;
}

/**
 * What every plugin package exports, so that a config file can name `type: loki` (or a
 * third-party package) and the app composes it without knowing it.
 */
export interface PluginDescriptor<Kind extends PluginKind = PluginKind, Options = unknown> {
  kind: Kind;
  /** The name used in config files (`loki`, `ntfy`, `ssh`, `claude`, `sqlite` ...). */
  type: string;
  /** The plugin package name and version, for error messages and `fish-sre doctor`. */
  packageName: string;
  version: string;
  /** Major version of the contracts it implements; core refuses others. */
  specificationVersion: 'v1';
  /** Validates the plugin's options; failures name the config path. */
  optionsSchema: z.ZodType<Options>;
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
