import { FishError, FishErrorCode, errorMessage } from '../errors.js';
import type { Catalog } from '../contracts/catalog.js';
import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';
import type { CatalogSnapshot } from './catalog-schema.js';
import { createLayeredCatalog } from './layered-catalog.js';

export { formatCatalogProblem, type CatalogProblem } from './folder-catalog.js';

export interface LoadCatalogOptions {
  /** Check that every script a pattern names exists and is executable. @default true */
  checkScripts?: boolean;
  clock?: Clock;
}

/**
 * Loads a catalog folder (`<dir>/patterns/*.yaml` and `<dir>/scripts/`, or YAML files directly in
 * `<dir>`): the folder catalog as the only layer. Collects every problem in every file before
 * failing, so one run tells the author everything; the error lists each as
 * `file:line, pattern "id", field path: message`.
 * @throws FishError CATALOG_INVALID with `details.problems: CatalogProblem[]`
 */
export async function loadCatalog(directory: string, options: LoadCatalogOptions = {}): Promise<CatalogSnapshot> {
  return createLayeredCatalog({ layers: [{ name: directory, directory }], ...options }).load();
}

export interface CatalogReloadResult {
  ok: boolean;
  changed: boolean;
  catalog: CatalogSnapshot;
  error?: FishError;
}

/**
 * Holds the current catalog and reloads it on demand (SIGHUP). A reload that fails keeps the last
 * good catalog and says why; the loop never runs half a catalog.
 */
export class CatalogHolder {
  private listeners = new Set<(catalog: CatalogSnapshot) => void>();

  private constructor(
    private current: CatalogSnapshot,
    /** Where the patterns come from. */
    readonly source: Catalog,
    private readonly options: { logger?: Logger },
  ) {}

  /**
   * Loads the first snapshot from `catalog` (a folder path is the folder catalog as one layer).
   * @throws FishError CATALOG_INVALID: nothing starts on an invalid catalog.
   */
  static async load(catalog: Catalog | string, options: LoadCatalogOptions & { logger?: Logger } = {}): Promise<CatalogHolder> {
    const source = typeof catalog === 'string' ? createLayeredCatalog({ layers: [{ name: catalog, directory: catalog }], ...options }) : catalog;
    if (source.specificationVersion !== 'v1') {
      throw new FishError({
        code: FishErrorCode.CATALOG_INVALID,
        message: errorMessage('catalog', `${source.name}: unsupported Catalog specificationVersion "${String(source.specificationVersion)}" (this core knows v1)`),
      });
    }
    return new CatalogHolder(await source.load(), source, options);
  }

  get catalog(): CatalogSnapshot {
    return this.current;
  }

  onChange(listener: (catalog: CatalogSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async reload(): Promise<CatalogReloadResult> {
    try {
      return this.accept(await this.source.load());
    } catch (error) {
      return this.refuse(error);
    }
  }

  /**
   * Follows the catalog's own `watch` (when it has one) until `signal` aborts: each new snapshot
   * replaces the current one, each failed load is logged and the last good catalog stays.
   * `onResult` sees every outcome (metrics). Resolves at once when the catalog cannot watch.
   */
  async follow(signal: AbortSignal, onResult?: (result: CatalogReloadResult) => void): Promise<void> {
    if (!this.source.watch) return;
    for await (const update of this.source.watch(signal)) {
      const result = update.ok ? this.accept(update.snapshot) : this.refuse(update.error);
      onResult?.(result);
    }
  }

  private accept(next: CatalogSnapshot): CatalogReloadResult {
    const changed = next.digest !== this.current.digest;
    this.current = next;
    if (changed) for (const listener of this.listeners) listener(next);
    this.options.logger?.info(`catalog reloaded: ${next.patterns.length} patterns${changed ? '' : ' (unchanged)'}`);
    return { ok: true, changed, catalog: next };
  }

  private refuse(error: unknown): CatalogReloadResult {
    const fishError = FishError.isInstance(error) ? error : new FishError({ code: FishErrorCode.CATALOG_INVALID, message: errorMessage('catalog', String(error)), cause: error });
    this.options.logger?.error(`catalog reload refused, keeping the last good catalog (${this.current.patterns.length} patterns): ${fishError.message}`);
    return { ok: false, changed: false, catalog: this.current, error: fishError };
  }

  /** Reloads on SIGHUP until the returned function is called. */
  watchSignal(signal: NodeJS.Signals = 'SIGHUP'): () => void {
    const handler = () => void this.reload();
    process.on(signal, handler);
    return () => process.off(signal, handler);
  }
}
