import { z } from 'zod';
import type { PluginContext, PluginDescriptor, PluginInstanceMap, PluginKind } from './contracts/plugin.js';
import { definePlugin } from './contracts/plugin.js';
import { FishError, FishErrorCode, errorMessage } from './errors.js';
import { parseOptions } from './plugin-utils/options.js';
import { createFileSource, FileSourceOptionsSchema } from './builtins/file-source.js';
import { createLocalExecutor, LocalExecutorOptionsSchema } from './builtins/local-executor.js';
import { createMemoryAuditStore } from './builtins/memory-audit-store.js';
import { createTerminalNotifier } from './builtins/terminal-notifier.js';
import { requireDurationUnits } from './util/duration.js';

export const fileSourcePlugin = definePlugin({
  kind: 'source', type: 'file', packageName: '@fish-sre/core', version: '0.1.0',
  optionsSchema: FileSourceOptionsSchema,
  create: (options, context) => createFileSource(options, { name: context.name, clock: context.clock, logger: context.logger, ...(context.state ? { position: context.state } : {}) }),
});

export const localExecutorPlugin = definePlugin({
  kind: 'executor', type: 'local', packageName: '@fish-sre/core', version: '0.1.0',
  optionsSchema: LocalExecutorOptionsSchema,
  create: (options) => createLocalExecutor(options),
});

export const memoryAuditPlugin = definePlugin({
  kind: 'audit', type: 'memory', packageName: '@fish-sre/core', version: '0.1.0',
  optionsSchema: z.object({}).strict(),
  create: () => createMemoryAuditStore(),
});

export const terminalNotifierPlugin = definePlugin({
  kind: 'notifier', type: 'terminal', packageName: '@fish-sre/core', version: '0.1.0',
  optionsSchema: z.object({ color: z.boolean().optional() }).strict(),
  create: (options) => createTerminalNotifier(options.color === undefined ? {} : { color: options.color }),
});

const KINDS: readonly PluginKind[] = ['source', 'notifier', 'executor', 'llm', 'audit'];

function isDescriptor(value: unknown): value is PluginDescriptor {
  const candidate = value as PluginDescriptor | undefined;
  return typeof candidate === 'object' && candidate !== null && KINDS.includes(candidate.kind) && typeof candidate.type === 'string' && typeof candidate.create === 'function' && typeof candidate.optionsSchema?.safeParse === 'function';
}

/**
 * Maps config names (`type: loki`) to plugin descriptors. Built-ins are registered by the app; a
 * `type` that looks like an npm package name (`@acme/fish-notify-matrix`) is imported on demand
 * and must export a descriptor of the requested kind. Checked at start-up, not at 3 a.m.
 */
export class PluginRegistry {
  private readonly descriptors = new Map<string, PluginDescriptor>();

  constructor(descriptors: PluginDescriptor[] = [fileSourcePlugin, localExecutorPlugin, memoryAuditPlugin, terminalNotifierPlugin] as PluginDescriptor[]) {
    for (const descriptor of descriptors) this.register(descriptor);
  }

  register(descriptor: PluginDescriptor): this {
    if (!isDescriptor(descriptor)) throw new FishError({ code: FishErrorCode.PLUGIN_INVALID, message: errorMessage('registry', 'not a plugin descriptor (needs kind, type, optionsSchema, create)') });
    if (descriptor.specificationVersion !== 'v1') {
      throw new FishError({ code: FishErrorCode.PLUGIN_VERSION_UNSUPPORTED, message: errorMessage('registry', `${descriptor.packageName} implements contract ${String(descriptor.specificationVersion)}; this core supports v1`) });
    }
    this.descriptors.set(`${descriptor.kind}:${descriptor.type}`, descriptor);
    return this;
  }

  list(kind?: PluginKind): PluginDescriptor[] {
    return [...this.descriptors.values()].filter((descriptor) => kind === undefined || descriptor.kind === kind);
  }

  async resolve<K extends PluginKind>(kind: K, type: string): Promise<PluginDescriptor<K>> {
    const known = this.descriptors.get(`${kind}:${type}`);
    if (known) return known as PluginDescriptor<K>;
    if (/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/.test(type) && (type.startsWith('@') || type.includes('-'))) {
      let module: Record<string, unknown>;
      try {
        module = (await import(type)) as Record<string, unknown>;
      } catch (error) {
        throw new FishError({ code: FishErrorCode.PLUGIN_UNKNOWN, message: errorMessage('registry', `cannot load ${kind} plugin package "${type}": ${(error as Error).message}. Is it installed?`), cause: error });
      }
      const found = Object.values(module).find((value) => isDescriptor(value) && value.kind === kind);
      if (!found) throw new FishError({ code: FishErrorCode.PLUGIN_INVALID, message: errorMessage('registry', `package "${type}" exports no ${kind} plugin descriptor`) });
      this.register(found as PluginDescriptor);
      return found as PluginDescriptor<K>;
    }
    const available = this.list(kind).map((descriptor) => descriptor.type).join(', ') || 'none';
    throw new FishError({ code: FishErrorCode.PLUGIN_UNKNOWN, message: errorMessage('registry', `unknown ${kind} type "${type}" (available: ${available}; or an npm package name)`) });
  }

  /** Validates options against the plugin's schema and creates the instance. `where` names the config path. */
  async create<K extends PluginKind>(kind: K, type: string, options: unknown, context: PluginContext, where: string): Promise<PluginInstanceMap[K]> {
    const descriptor = await this.resolve(kind, type);
    // Options from the config file: a duration must carry its unit there.
    const parsed = requireDurationUnits(() => parseOptions(descriptor.optionsSchema, options, type, where));
    return manage(await descriptor.create(parsed, context));
  }
}

/**
 * Wraps a plugin instance so that `close()` runs once and any call after it is refused with
 * PLUGIN_DISPOSED instead of touching closed sockets.
 */
export function manage<T extends object>(instance: T): T {
  let closed = false;
  let closing: Promise<void> | undefined;
  return new Proxy(instance, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      // close() is always offered, even when the plugin has none of its own: disposal must still
      // refuse later calls rather than let them run against a plugin its owner shut down.
      if (property === 'close') {
        return () => {
          closed = true;
          closing ??= Promise.resolve(typeof value === 'function' ? (value as () => unknown).call(target) : undefined).then(() => undefined);
          return closing;
        };
      }
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (closed) throw new FishError({ code: FishErrorCode.PLUGIN_DISPOSED, message: errorMessage(String((target as { name?: string }).name ?? 'plugin'), `${String(property)}() called after close()`) });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
