import { constants } from 'node:fs';
import { access, chmod, copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Catalog, CatalogSnapshot } from '@fish-sre/core';

type Write = (text: string) => void;

/** The verb the wrapper allows for each step of a pattern (fix → run). */
const VERBS = [
  ['fix', 'run'],
  ['verify', 'verify'],
  ['rollback', 'rollback'],
] as const;

/** One catalog layer as fish opens it: its name in `origins`, its folder (patterns/ and scripts/). */
export interface ExportLayer {
  name: string;
  directory: string;
}

interface Resolved {
  /** Where the script file is. */
  path: string;
  /** Who named it: `pattern <id> (<layer>)`. */
  by: string;
}

/**
 * Which file each triple's script is: the pattern's own layer's `scripts/` first, then the lower
 * layers' (as the catalog loader looks them up). A target holds one file per script name, so two
 * patterns whose same-named scripts are different files cannot both be installed: that is refused.
 */
async function resolveScripts(catalog: CatalogSnapshot, layers: readonly ExportLayer[]): Promise<{ triples: string[]; scripts: Map<string, Resolved>; problems: string[] }> {
  const triples: string[] = [];
  const scripts = new Map<string, Resolved>();
  const problems: string[] = [];
  for (const pattern of [...catalog.patterns].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const layerName = catalog.origins?.[pattern.id]?.layer;
    const own = Math.max(
      0,
      layers.findIndex((layer) => layer.name === layerName),
    );
    const folders = layers
      .slice(0, own + 1)
      .reverse()
      .map((layer) => join(layer.directory, 'scripts'));
    for (const [step, verb] of VERBS) {
      const script = pattern[step]?.script;
      if (!script) continue;
      let path: string | undefined;
      for (const folder of folders) {
        const candidate = join(folder, script);
        if (
          await access(candidate, constants.X_OK).then(
            () => true,
            () => false,
          )
        ) {
          path = candidate;
          break;
        }
      }
      const by = `pattern ${pattern.id} (${layerName ?? layers[own]?.name ?? 'catalog'})`;
      if (!path) {
        problems.push(`${step}.script "${script}" of ${by} is not an executable file in ${folders.join(', ')}`);
        continue;
      }
      const seen = scripts.get(script);
      if (seen && seen.path !== path && !(await readFile(seen.path)).equals(await readFile(path))) {
        problems.push(`two different scripts named "${script}": ${seen.path} (for ${seen.by}) and ${path} (for ${by}); a target holds one file per name: rename one`);
        continue;
      }
      if (!seen) scripts.set(script, { path, by });
      triples.push(`${pattern.id} ${script} ${verb}`);
    }
  }
  return { triples: [...new Set(triples)].sort(), scripts, problems };
}

/**
 * `fish-sre catalog export-target <dir>`: writes what `install-target.sh <dir>` installs on a
 * target, from the catalog exactly as fish loads it (every layer, overrides and disables
 * applied): `<dir>/allow-triples`, one `<pattern> <script> <verb>` line for each script a pattern
 * names, and `<dir>/scripts/` holding those scripts (0755) and nothing else. `<dir>` must be new,
 * empty, or an earlier export (it holds `allow-triples`): nothing else in a folder is deleted.
 */
export async function catalogExportTarget(source: Catalog, layers: readonly ExportLayer[], out: string, write: Write): Promise<number> {
  const catalog = await source.load();
  const { triples, scripts, problems } = await resolveScripts(catalog, layers);
  if (problems.length > 0) {
    write(`catalog export-target REFUSED: ${problems.length} problem(s) in ${source.name}\n${problems.map((problem) => `  ${problem}\n`).join('')}`);
    return 1;
  }
  const existing = await readdir(out).catch(() => [] as string[]);
  if (existing.length > 0 && !existing.includes('allow-triples')) {
    write(`catalog export-target REFUSED: ${out} holds files and is not an earlier export (no allow-triples in it): give a new or empty folder\n`);
    return 1;
  }
  const scriptsDir = join(out, 'scripts');
  await mkdir(scriptsDir, { recursive: true });
  for (const name of await readdir(scriptsDir)) if (!scripts.has(name)) await rm(join(scriptsDir, name), { recursive: true, force: true });
  for (const [name, { path }] of scripts) {
    await copyFile(path, join(scriptsDir, name));
    await chmod(join(scriptsDir, name), 0o755);
  }
  const header = `# pattern script verb: the catalog ${source.name} as fish loads it (fish-sre catalog export-target)\n`;
  await writeFile(join(out, 'allow-triples'), header + triples.map((triple) => `${triple}\n`).join(''));
  const disabled = catalog.disabled ?? [];
  write(`exported ${triples.length} allowed triple(s) and ${scripts.size} script(s) of ${catalog.patterns.length} patterns from ${source.name} to ${out}\n`);
  for (const stub of disabled) write(`  ${stub.id}: disabled, not allowed\n`);
  write(`next, on each target as root: apps/fish/deploy/install-target.sh ${out}\n`);
  return 0;
}
