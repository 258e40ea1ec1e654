import { isAbsolute, resolve } from 'node:path';
import { FishError, FishErrorCode, createLayeredCatalog, errorMessage, type Catalog, type CatalogLayer } from '@fish-sre/core';
import { displayPath } from '@fish-sre/core/internal';
import { findBundledCatalog } from './paths.js';

/** The word that names the seed catalog (`@fish-sre/catalog`) in `catalog:` and `--catalog`. */
export const BUNDLED_CATALOG = 'bundled';

/**
 * `catalog:` entries (lowest layer first) -> catalog layers. `bundled` is the seed catalog,
 * found beside the config file, in the working directory or with this CLI; any other entry is a
 * folder, relative to `baseDir` (the config file's folder). A folder literally named `bundled`
 * is written `./bundled`.
 */
export function catalogLayers(entries: readonly string[], baseDir: string): CatalogLayer[] {
  return entries.map((entry) => {
    if (entry === BUNDLED_CATALOG) {
      const found = findBundledCatalog([baseDir, process.cwd()]);
      if (!found.directory) {
        throw new FishError({
          code: FishErrorCode.CATALOG_INVALID,
          message: errorMessage(
            'catalog',
            `"bundled" names the seed catalog package @fish-sre/catalog, which is not installed (looked from ${found.looked.join(', ')}): run \`npm install @fish-sre/catalog\` beside your fish.yaml`,
          ),
        });
      }
      return { name: BUNDLED_CATALOG, directory: found.directory };
    }
    const directory = isAbsolute(entry) ? entry : resolve(baseDir, entry);
    return { name: displayPath(directory), directory };
  });
}

/** The layered catalog of `catalog:` entries (`pollIntervalMs`: how often its watch looks at the folders). */
export function openCatalog(entries: readonly string[], baseDir: string, options: { checkScripts?: boolean; pollIntervalMs?: number } = {}): Catalog {
  return createLayeredCatalog({ layers: catalogLayers(entries, baseDir), ...options });
}
