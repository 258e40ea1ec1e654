import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { UnknownBundleWriter } from '@fish-sre/core';

/**
 * Writes UNKNOWN bundles as `<incident id>.json` (and drafted patterns as
 * `<incident id>.draft.yaml`) in a folder fish owns, readable by its group only. The folder is
 * created on first use; a failure is thrown to the engine, which still sends the notification.
 */
export function createFileBundleWriter(directory: string): UnknownBundleWriter {
  return {
    async writeBundle(bundle) {
      const path = join(directory, `${bundle.incident.id}.json`);
      await mkdir(directory, { recursive: true });
      await writeFile(path, `${JSON.stringify(bundle, null, 2)}\n`, { mode: 0o640 });
      return path;
    },
    async writeDraft(incidentId, yaml) {
      const path = join(directory, `${incidentId}.draft.yaml`);
      await writeFile(path, yaml, { mode: 0o640 });
      return path;
    },
  };
}
