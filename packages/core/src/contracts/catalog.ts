import type { FishError } from '../errors.js';
import type { CatalogSnapshot, PatternOrigin } from '../catalog/catalog-schema.js';

/**
 * What `Catalog.watch` reports: a new valid snapshot, or why the changed files could not be
 * loaded. After a failure the consumer keeps its last good snapshot: a catalog never hands out
 * half a catalog.
 */
export type CatalogUpdate = { ok: true; snapshot: CatalogSnapshot } | { ok: false; error: FishError };

/**
 * Where incident patterns come from. The built-in implementations are the folder catalog
 * (`createFolderCatalog`: one folder of YAML files) and the layered catalog
 * (`createLayeredCatalog`: the seed catalog plus the user's own folders, which add, replace or
 * disable patterns by id). Core holds the current snapshot in a `CatalogHolder`, which keeps the
 * last good one when a reload fails.
 */
export interface Catalog {
  /** Contract version; core refuses versions it does not know. */
  readonly specificationVersion: 'v1';
  /** Names the catalog in logs and errors (a folder path, `bundled + ./my-patterns`). */
  readonly name: string;
  /**
   * Reads and validates every pattern, and resolves to a snapshot with a digest (equal digests:
   * nothing changed) and the origin of every pattern. Collects every problem before failing, so
   * one run tells the author everything.
   * @throws FishError CATALOG_INVALID with `details.problems: CatalogProblem[]` (file, line, field).
   */
  load(signal?: AbortSignal): Promise<CatalogSnapshot>;
  /**
   * Optional capability, detected by core: yields the current snapshot (or the load error) first,
   * then an update each time what `load` would return changes (a new digest) or a load fails
   * after a change, until `signal` aborts; then the iterator ends. Starting with the current state
   * means no change made between a `load` and the start of `watch` is lost. Without it, the
   * catalog is reloaded only on demand (SIGHUP).
   */
  watch?(signal: AbortSignal): AsyncIterable<CatalogUpdate>;
}

/** Where a pattern of a snapshot came from; undefined when the snapshot does not say. */
export function patternOrigin(snapshot: CatalogSnapshot, patternId: string): PatternOrigin | undefined {
  return snapshot.origins?.[patternId];
}

/** `catalog/patterns/x.yaml:3 (bundled)`, and what it overrides, for messages and `catalog validate`. */
export function formatPatternOrigin(origin: PatternOrigin): string {
  const here = `${origin.file}:${origin.line} (${origin.layer})`;
  return origin.overrides ? `${here}, overrides ${formatPatternOrigin(origin.overrides)}` : here;
}
