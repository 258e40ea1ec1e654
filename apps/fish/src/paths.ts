import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The bundled seed catalog: the `@fish-sre/catalog` package as installed beside the config file
 * (`searchFrom`, in order), then the one installed with this CLI, then the repository's catalog/
 * folder. Undefined when none exists.
 */
export function findBundledCatalog(searchFrom: readonly string[] = []): { directory?: string; looked: string[] } {
  const looked: string[] = [];
  for (const base of [...searchFrom.map((folder) => join(resolve(folder), 'package.json')), fileURLToPath(import.meta.url)]) {
    looked.push(dirname(base));
    try {
      return { directory: dirname(createRequire(base).resolve('@fish-sre/catalog/package.json')), looked };
    } catch {
      // not installed there: look further
    }
  }
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [resolve(here, '../../../catalog'), resolve(here, '../../catalog')]) if (existsSync(join(candidate, 'patterns'))) return { directory: candidate, looked };
  return { looked };
}

/** The bundled seed catalog folder (see findBundledCatalog), or where it would be in this repository. */
export function bundledCatalogDir(searchFrom: readonly string[] = []): string {
  return findBundledCatalog(searchFrom).directory ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../catalog');
}

/** Files shipped with the fish app (demo sandbox, deploy kit). */
export function appDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}
