import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bundled seed catalog: the @fish-sre/catalog package, or the repository's catalog/ folder. */
export function bundledCatalogDir(): string {
  try {
    const require = createRequire(import.meta.url);
    return dirname(require.resolve('@fish-sre/catalog/package.json'));
  } catch {
    const here = dirname(fileURLToPath(import.meta.url));
    for (const candidate of [resolve(here, '../../../catalog'), resolve(here, '../../catalog')]) if (existsSync(candidate)) return candidate;
    return resolve(here, '../../../catalog');
  }
}

/** Files shipped with the fish app (demo sandbox, deploy kit). */
export function appDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}
