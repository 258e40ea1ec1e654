import { PluginRegistry, type PluginDescriptor } from '@fish-sre/core';
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
 * is named in the config by its npm package name and loaded by the registry on demand: nothing
 * here changes for it.
 */
export const FIRST_PARTY_PLUGINS: PluginDescriptor[] = [lokiSourcePlugin, prometheusSourcePlugin, alertmanagerSourcePlugin, ntfyNotifierPlugin, telegramNotifierPlugin, sshExecutorPlugin, claudeProviderPlugin, ollamaProviderPlugin, sqliteAuditPlugin, postgresAuditPlugin] as PluginDescriptor[];

export function createFishRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const descriptor of FIRST_PARTY_PLUGINS) registry.register(descriptor);
  return registry;
}
