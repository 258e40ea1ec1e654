import { createHash } from 'node:crypto';
import { FishError, FishErrorCode, errorMessage } from '../errors.js';
import type { Catalog, CatalogUpdate } from '../contracts/catalog.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { CatalogSnapshot, Pattern, PatternDisable, PatternOrigin } from './catalog-schema.js';
import { catalogInvalid, createFolderCatalog, displayPath, fingerprintFolder, pollCatalog, type CatalogProblem } from './folder-catalog.js';

/** One layer: a folder, or any other `Catalog`. Layers are given lowest first (the seed catalog). */
export type CatalogLayer = { name: string; directory: string } | { name: string; catalog: Catalog };

export interface LayeredCatalogOptions {
  /** Lowest first: a higher layer adds patterns, replaces one of the same id, or disables one. */
  layers: readonly CatalogLayer[];
  /** Check that every script a pattern names exists and is executable, in its layer's `scripts/` or a lower layer's. @default true */
  checkScripts?: boolean;
  /** How often `watch` looks at the folders. @default 2000 */
  pollIntervalMs?: number;
  clock?: Clock;
}

function asProblems(error: unknown, layer: string): CatalogProblem[] {
  if (FishError.isInstance(error) && Array.isArray((error.details as { problems?: unknown } | undefined)?.problems)) return (error.details as { problems: CatalogProblem[] }).problems;
  return [{ file: layer, message: error instanceof Error ? error.message : String(error) }];
}

/**
 * Combines layer snapshots, lowest first: a pattern replaces the one of the same id below it
 * (whole, never merged; its origin says which it overrides), a disable stub removes the one below
 * it, and a stub with nothing below it to disable is an error (a typo would otherwise go unseen).
 */
export function combineCatalogLayers(snapshots: ReadonlyArray<{ name: string; snapshot: CatalogSnapshot }>, clock: Clock = systemClock): CatalogSnapshot {
  const current = new Map<string, { pattern: Pattern; origin: PatternOrigin }>();
  const disabled: PatternDisable[] = [];
  const problems: CatalogProblem[] = [];
  for (const [index, { name, snapshot }] of snapshots.entries()) {
    for (const pattern of snapshot.patterns) {
      const origin = snapshot.origins?.[pattern.id] ?? { layer: name, file: snapshot.loadedFrom, line: 1 };
      const below = current.get(pattern.id);
      current.set(pattern.id, { pattern, origin: below ? { ...origin, overrides: below.origin } : origin });
    }
    for (const stub of snapshot.disabled ?? []) {
      if (stub.removed) {
        disabled.push(stub);
        continue;
      }
      const below = current.get(stub.id);
      if (!below) {
        const lower = snapshots.slice(0, index).map((layer) => layer.name);
        problems.push({
          file: stub.origin.file,
          line: stub.origin.line,
          patternId: stub.id,
          path: 'disabled',
          message: lower.length === 0 ? `nothing to disable: "${name}" is the lowest catalog layer` : `nothing to disable: no lower layer (${lower.join(', ')}) defines pattern "${stub.id}"`,
        });
        continue;
      }
      current.delete(stub.id);
      disabled.push({ ...stub, removed: below.origin });
    }
  }
  if (problems.length > 0) throw catalogInvalid(snapshots.map((layer) => layer.name).join(' + '), problems);
  const top = snapshots[snapshots.length - 1]!.snapshot;
  const digest =
    snapshots.length === 1
      ? top.digest
      : createHash('sha256')
          .update(snapshots.map((layer) => `${layer.name}\0${layer.snapshot.digest}`).join('\0'))
          .digest('hex');
  return {
    patterns: [...current.values()].map((entry) => entry.pattern),
    scriptsDir: top.scriptsDir,
    scriptDirs: snapshots.flatMap((layer) => layer.snapshot.scriptDirs ?? [layer.snapshot.scriptsDir]).reverse(),
    loadedFrom: snapshots.length === 1 ? top.loadedFrom : snapshots.map((layer) => layer.name).join(' + '),
    loadedAt: clock.now(),
    digest,
    origins: Object.fromEntries([...current.entries()].map(([id, entry]) => [id, entry.origin])),
    disabled,
    // By script name, a higher layer's script first: the order a script is looked up in.
    ...(snapshots.some((layer) => layer.snapshot.scriptDigests) ? { scriptDigests: Object.assign({}, ...snapshots.map((layer) => layer.snapshot.scriptDigests ?? {})) as Record<string, string> } : {}),
  };
}

/**
 * A Catalog made of layers: the seed catalog (`@fish-sre/catalog`) at the bottom, the user's own
 * folders above it. Every layer is loaded and every problem of every layer is reported at once;
 * a same id twice inside one layer is an error naming both files.
 */
export function createLayeredCatalog(options: LayeredCatalogOptions): Catalog {
  if (options.layers.length === 0) throw new FishError({ code: FishErrorCode.CATALOG_INVALID, message: errorMessage('catalog', 'no catalog layer given') });
  const folders: string[] = [];
  const layers = options.layers.map((layer) => {
    if ('catalog' in layer) return { name: layer.name, catalog: layer.catalog };
    const catalog = createFolderCatalog({
      directory: layer.directory,
      layer: layer.name,
      checkScripts: options.checkScripts ?? true,
      // Only the lowest layer must hold patterns: an own folder may still be empty.
      allowEmpty: folders.length > 0,
      // A higher layer's pattern may run a script that a lower layer ships.
      fallbackScriptDirs: [...folders].reverse().map((folder) => `${folder}/scripts`),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    folders.push(layer.directory);
    return { name: layer.name, catalog };
  });
  const name = layers.map((layer) => layer.name).join(' + ');
  const catalog: Catalog = {
    specificationVersion: 'v1',
    name,
    async load(signal) {
      const snapshots: Array<{ name: string; snapshot: CatalogSnapshot }> = [];
      const problems: CatalogProblem[] = [];
      for (const layer of layers) {
        try {
          snapshots.push({ name: layer.name, snapshot: await layer.catalog.load(signal) });
        } catch (error) {
          problems.push(...asProblems(error, layer.name));
        }
      }
      if (problems.length > 0) {
        // One layer: the message it has always had; several: each problem still names its file.
        const only = options.layers.length === 1 ? options.layers[0]! : undefined;
        throw catalogInvalid(only && 'directory' in only ? displayPath(only.directory) : name, problems);
      }
      return combineCatalogLayers(snapshots, options.clock);
    },
    watch(signal): AsyncIterable<CatalogUpdate> {
      const fingerprint = async () => {
        const parts: string[] = [];
        for (const layer of options.layers)
          parts.push('directory' in layer ? await fingerprintFolder(layer.directory) : `${layer.name}:${(await layer.catalog.load(signal).catch(() => undefined))?.digest ?? 'failing'}`);
        return parts.join('\0');
      };
      return pollCatalog(catalog, fingerprint, options.pollIntervalMs ?? 2000, signal);
    },
  };
  return catalog;
}
