import { PluginRegistry, type PluginDescriptor } from '@fish-sre/core';

/**
 * The first-party plugins fish knows by name. A third-party plugin is named in the config by its
 * npm package name and loaded by the registry on demand: nothing here changes for it.
 */
export const FIRST_PARTY_PLUGINS: PluginDescriptor[] = [];

export function createFishRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const descriptor of FIRST_PARTY_PLUGINS) registry.register(descriptor);
  return registry;
}
