import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginRegistry, type PluginDescriptor, type PluginSearchPath } from '@fish-sre/core';
import { postgresAuditPlugin } from '@fish-sre/audit-postgres';
import { sqliteAuditPlugin } from '@fish-sre/audit-sqlite';
import { sshExecutorPlugin } from '@fish-sre/exec-ssh';
import { claudeProviderPlugin } from '@fish-sre/llm-claude';
import { ollamaProviderPlugin } from '@fish-sre/llm-ollama';
import { lokiSourcePlugin } from '@fish-sre/source-loki';
import { alertmanagerSourcePlugin, prometheusSourcePlugin } from '@fish-sre/source-prom';
import { ntfyNotifierPlugin } from '@fish-sre/notify-ntfy';
import { telegramNotifierPlugin } from '@fish-sre/notify-telegram';

/**
 * The first-party plugins fish knows by name (`type: loki`, `type: ssh` ...). A third-party plugin
 * is named in the config by its npm package (`package: fish-notify-matrix`, with the descriptor's
 * `type` when the package has several) and loaded by the registry on demand: nothing here changes
 * for it.
 */
export const FIRST_PARTY_PLUGINS: PluginDescriptor[] = [
  lokiSourcePlugin,
  prometheusSourcePlugin,
  alertmanagerSourcePlugin,
  ntfyNotifierPlugin,
  telegramNotifierPlugin,
  sshExecutorPlugin,
  claudeProviderPlugin,
  ollamaProviderPlugin,
  sqliteAuditPlugin,
  postgresAuditPlugin,
] as PluginDescriptor[];

/**
 * Where plugin packages are looked for, in order: next to the config file (a project-local
 * `npm install`), the working directory, then fish-sre's own install (a plugin installed
 * globally beside a global `fish-sre`). Each folder's `node_modules` and its parents', as Node does.
 */
export function pluginSearchPaths(configDir?: string, cwd: string = process.cwd()): PluginSearchPath[] {
  return [
    ...(configDir === undefined ? [] : [{ dir: configDir, label: "the config file's folder" }]),
    { dir: cwd, label: 'the working directory' },
    { dir: dirname(fileURLToPath(import.meta.url)), label: "fish-sre's own install" },
  ];
}

/** The registry of a fish: first-party plugins by type, third-party packages found from `configDir` (plugin paths are relative to it too). */
export function createFishRegistry(options: { configDir?: string } = {}): PluginRegistry {
  const searchPaths = pluginSearchPaths(options.configDir);
  const registry = new PluginRegistry(undefined, { searchPaths, relativeTo: options.configDir ?? process.cwd() });
  for (const descriptor of FIRST_PARTY_PLUGINS) registry.register(descriptor);
  return registry;
}
