import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { PluginStateStore } from '@fish-sre/core';

/**
 * A plugin's durable state as small files in its data folder (`<dataDir>/<plugin>/<key>.json`).
 * A write goes to a temporary file, is synced, then renamed over the old one: a crash leaves the
 * old value or the new one, never half of either.
 */
export function createFileStateStore(directory: string): PluginStateStore {
  const pathOf = (key: string) => {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(key) || key.startsWith('.')) throw new Error(`invalid state key ${JSON.stringify(key)}`);
    return join(directory, `${key}.json`);
  };
  return {
    async read(key) {
      try {
        return await readFile(pathOf(key), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async write(key, value) {
      const path = pathOf(key);
      const temporary = `${path}.tmp`;
      const handle = await open(temporary, 'w', 0o600);
      try {
        await handle.writeFile(value, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, path);
    },
  };
}
