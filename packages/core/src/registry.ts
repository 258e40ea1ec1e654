import { z } from 'zod';
import type { PluginContext, PluginDescriptor, PluginInstanceMap, PluginKind } from './contracts/plugin.js';
import { definePlugin } from './contracts/plugin.js';
import { FishError, FishErrorCode, errorMessage } from './errors.js';
import { closestName, parseOptions } from './plugin-utils/options.js';
import { createFileSource, FileSourceOptionsSchema } from './builtins/file-source.js';
import { createLocalExecutor, LocalExecutorOptionsSchema } from './builtins/local-executor.js';
import { createMemoryAuditStore } from './builtins/memory-audit-store.js';
import { createTerminalNotifier } from './builtins/terminal-notifier.js';
import { requireDurationUnits } from './util/duration.js';
import { coreInstallDir, importPluginPackage, isPluginPath, isPluginSpecifier, type PluginSearchPath } from './plugin-loader.js';

export const fileSourcePlugin = definePlugin({
  kind: 'source',
  type: 'file',
  packageName: '@fish-sre/core',
  version: '0.1.0',
  optionsSchema: FileSourceOptionsSchema,
  create: (options, context) => createFileSource(options, { name: context.name, clock: context.clock, logger: context.logger, ...(context.state ? { position: context.state } : {}) }),
});

export const localExecutorPlugin = definePlugin({
  kind: 'executor',
  type: 'local',
  packageName: '@fish-sre/core',
  version: '0.1.0',
  optionsSchema: LocalExecutorOptionsSchema,
  create: (options) => createLocalExecutor(options),
});

export const memoryAuditPlugin = definePlugin({
  kind: 'audit',
  type: 'memory',
  packageName: '@fish-sre/core',
  version: '0.1.0',
  optionsSchema: z.object({}).strict(),
  create: () => createMemoryAuditStore(),
});

export const terminalNotifierPlugin = definePlugin({
  kind: 'notifier',
  type: 'terminal',
  packageName: '@fish-sre/core',
  version: '0.1.0',
  optionsSchema: z.object({ color: z.boolean().optional() }).strict(),
  create: (options) => createTerminalNotifier(options.color === undefined ? {} : { color: options.color }),
});

const KINDS: readonly PluginKind[] = ['source', 'notifier', 'executor', 'llm', 'audit'];

function isDescriptor(value: unknown): value is PluginDescriptor {
  const candidate = value as PluginDescriptor | undefined;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    KINDS.includes(candidate.kind) &&
    typeof candidate.type === 'string' &&
    typeof candidate.create === 'function' &&
    typeof candidate.optionsSchema?.safeParse === 'function'
  );
}

function checkContract(descriptor: PluginDescriptor): void {
  if (descriptor.specificationVersion !== 'v1') {
    throw new FishError({
      code: FishErrorCode.PLUGIN_VERSION_UNSUPPORTED,
      message: errorMessage('registry', `${descriptor.packageName} implements contract ${String(descriptor.specificationVersion)}; this core supports v1`),
    });
  }
}

export interface PluginRegistryOptions {
  /**
   * Where plugin packages are looked up, in order (each folder's `node_modules`, then its
   * parents', as Node does). A CLI passes the config file's folder, the working directory and
   * its own install. @default the working directory, then @fish-sre/core's own install
   */
  searchPaths?: PluginSearchPath[];
  /** Folder a plugin path (`./my-plugin`) is relative to. @default the first search path */
  relativeTo?: string;
}

/**
 * Maps config names to plugin descriptors. Built-ins are registered by the app and named by their
 * `type` (`type: loki`). A third-party plugin is named by its package and, when the package
 * exports more than one plugin of the kind, by the descriptor's `type` inside it
 * (`package: fish-notify-matrix, type: matrix`); `type: <package>` alone works for a package with
 * one plugin of the kind. Packages are imported on demand from the search paths, every plugin
 * they export is registered under the package name. Checked at start-up, not at 3 a.m.
 */
export class PluginRegistry {
  private readonly descriptors = new Map<string, PluginDescriptor>();
  private readonly packages = new Map<string, Promise<PluginDescriptor[]>>();
  private readonly searchPaths: PluginSearchPath[];
  private readonly relativeTo: string;

  constructor(descriptors: PluginDescriptor[] = [fileSourcePlugin, localExecutorPlugin, memoryAuditPlugin, terminalNotifierPlugin] as PluginDescriptor[], options: PluginRegistryOptions = {}) {
    for (const descriptor of descriptors) this.register(descriptor);
    this.searchPaths = options.searchPaths ?? [
      { dir: process.cwd(), label: 'the working directory' },
      { dir: coreInstallDir(), label: "@fish-sre/core's own install" },
    ];
    this.relativeTo = options.relativeTo ?? this.searchPaths[0]?.dir ?? process.cwd();
  }

  register(descriptor: PluginDescriptor): this {
    if (!isDescriptor(descriptor)) throw new FishError({ code: FishErrorCode.PLUGIN_INVALID, message: errorMessage('registry', 'not a plugin descriptor (needs kind, type, optionsSchema, create)') });
    checkContract(descriptor);
    this.descriptors.set(`${descriptor.kind}:${descriptor.type}`, descriptor);
    return this;
  }

  list(kind?: PluginKind): PluginDescriptor[] {
    return [...this.descriptors.values()].filter((descriptor) => kind === undefined || descriptor.kind === kind);
  }

  /** Every plugin descriptor a package (or plugin path) exports, imported once. */
  loadPackage(specifier: string): Promise<PluginDescriptor[]> {
    let loading = this.packages.get(specifier);
    if (!loading) {
      loading = importPluginPackage(specifier, this.searchPaths, this.relativeTo).then(({ module, file }) => {
        const found = [...new Set(Object.values(module).filter(isDescriptor))];
        if (found.length === 0)
          throw new FishError({
            code: FishErrorCode.PLUGIN_INVALID,
            message: errorMessage('registry', `"${specifier}" (${file}) exports no fish-sre plugin descriptor (an object from definePlugin with kind, type, optionsSchema, create)`),
          });
        for (const descriptor of found) checkContract(descriptor);
        return found;
      });
      loading.catch(() => this.packages.delete(specifier));
      this.packages.set(specifier, loading);
    }
    return loading;
  }

  /**
   * The descriptor a config names. `packageName` given: the plugin of that `type` and kind in that
   * package. Otherwise a registered type, else `type` read as a package exporting one plugin of
   * the kind.
   */
  async resolve<K extends PluginKind>(kind: K, type: string, packageName?: string): Promise<PluginDescriptor<K>> {
    if (packageName !== undefined) {
      const ofKind = (await this.loadPackage(packageName)).filter((descriptor) => descriptor.kind === kind);
      const found = ofKind.find((descriptor) => descriptor.type === type);
      if (found) return found as PluginDescriptor<K>;
      throw new FishError({
        code: FishErrorCode.PLUGIN_UNKNOWN,
        message: errorMessage(
          'registry',
          `package "${packageName}" has no ${kind} plugin of type "${type}" (its ${kind} plugins: ${ofKind.map((descriptor) => descriptor.type).join(', ') || 'none'})`,
        ),
      });
    }
    const known = this.descriptors.get(`${kind}:${type}`);
    if (known) return known as PluginDescriptor<K>;
    const available =
      this.list(kind)
        .map((descriptor) => descriptor.type)
        .join(', ') || 'none';
    if (!isPluginSpecifier(type)) {
      throw new FishError({ code: FishErrorCode.PLUGIN_UNKNOWN, message: errorMessage('registry', `unknown ${kind} type "${type}" (available: ${available}; or an npm package name)`) });
    }
    let loaded: PluginDescriptor[];
    try {
      loaded = await this.loadPackage(type);
    } catch (error) {
      // A bare word that is neither a built-in nor an installed package is most likely a typo.
      if (FishError.hasCode(error, FishErrorCode.PLUGIN_UNKNOWN) && !isPluginPath(type) && !type.includes('-') && !type.startsWith('@')) {
        const near = closestName(
          type,
          this.list(kind).map((descriptor) => descriptor.type),
        );
        const looked = ((error.details['looked'] as string[] | undefined) ?? []).join(', ');
        throw new FishError({
          code: FishErrorCode.PLUGIN_UNKNOWN,
          message: errorMessage(
            'registry',
            `unknown ${kind} type "${type}"${near ? ` (did you mean "${near}"?)` : ''} (available: ${available}; or an installed npm package, and no package "${type}" is installed in ${looked} or their parents)`,
          ),
          cause: error,
          details: error.details,
        });
      }
      throw error;
    }
    const ofKind = loaded.filter((descriptor) => descriptor.kind === kind);
    if (ofKind.length === 1) return ofKind[0] as PluginDescriptor<K>;
    if (ofKind.length === 0) {
      throw new FishError({
        code: FishErrorCode.PLUGIN_INVALID,
        message: errorMessage('registry', `package "${type}" exports no ${kind} plugin descriptor (it exports: ${loaded.map((descriptor) => `${descriptor.kind} ${descriptor.type}`).join(', ')})`),
      });
    }
    const types = ofKind.map((descriptor) => descriptor.type).sort();
    throw new FishError({
      code: FishErrorCode.PLUGIN_INVALID,
      message: errorMessage('registry', `package "${type}" exports ${ofKind.length} ${kind} plugins (${types.join(', ')}): name one with \`package: ${type}\` and \`type: ${types[0]!}\``),
    });
  }

  /** Validates options against the plugin's schema and creates the instance. `where` names the config path. */
  async create<K extends PluginKind>(kind: K, type: string, options: unknown, context: PluginContext, where: string, packageName?: string): Promise<PluginInstanceMap[K]> {
    const descriptor = await this.resolve(kind, type, packageName);
    // Options from the config file: a duration must carry its unit there.
    const parsed = requireDurationUnits(() => parseOptions(descriptor.optionsSchema, options, descriptor.type, where));
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
        if (closed)
          throw new FishError({ code: FishErrorCode.PLUGIN_DISPOSED, message: errorMessage(String((target as { name?: string }).name ?? 'plugin'), `${String(property)}() called after close()`) });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
