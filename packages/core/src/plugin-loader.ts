import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exports as resolveExports, legacy } from 'resolve.exports';
import { FishError, FishErrorCode, errorMessage } from './errors.js';

/** A folder plugin packages are looked up from (its `node_modules` and those of its parents). */
export interface PluginSearchPath {
  dir: string;
  /** Said in the error when nothing is found: `the config file's folder`. */
  label: string;
}

/** An npm package name: `fish-notify-matrix`, `matrix`, `@acme/fish-notify-matrix`. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** Whether `value` names a plugin by path (`./my-plugin`, `../plugins/x.js`, `/opt/x`). */
export function isPluginPath(value: string): boolean {
  return value.startsWith('./') || value.startsWith('../') || isAbsolute(value);
}

/** Whether `value` can name a plugin package or path at all. */
export function isPluginSpecifier(value: string): boolean {
  return isPluginPath(value) || PACKAGE_NAME.test(value);
}

/** The folder of `@fish-sre/core` itself: where a plain `import()` from core would look. */
export function coreInstallDir(): string {
  return dirname(fileURLToPath(import.meta.url));
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (found) => found.isFile(),
    () => false,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (found) => found.isDirectory(),
    () => false,
  );
}

/**
 * The file a package folder's entry point resolves to for `import`, as Node resolves it: the
 * `exports` map's "." entry under the `node`, `import` and `default` conditions (an ESM-only
 * package works), else `main`, else `index.js`.
 */
async function packageEntry(folder: string, name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(folder, 'package.json'), 'utf8')) as Record<string, unknown>;
  if (manifest['exports'] !== undefined) {
    let entries: string[] | undefined;
    try {
      entries = resolveExports(manifest, '.', { conditions: ['node'] }) ?? undefined;
    } catch (error) {
      throw new FishError({
        code: FishErrorCode.PLUGIN_INVALID,
        message: errorMessage('registry', `package "${name}" (${folder}) exports no entry point for import: ${(error as Error).message}`),
        cause: error,
      });
    }
    const entry = entries?.[0];
    if (entry) return resolve(folder, entry);
  }
  const main = legacy(manifest, { fields: ['main'] });
  return resolve(folder, typeof main === 'string' ? main : 'index.js');
}

/** The first `node_modules/<name>` folder from `start` upward, as Node's own lookup walks it. */
async function findInstalled(name: string, start: string): Promise<string | undefined> {
  let folder = resolve(start);
  for (;;) {
    const candidate = join(folder, 'node_modules', name);
    if (await isFile(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(folder);
    if (parent === folder) return undefined;
    folder = parent;
  }
}

/**
 * Finds and imports a plugin package: from each search path in turn (its `node_modules` and its
 * parents'), or from a path relative to `relativeTo`. When nothing is found, the error says every
 * place it looked and how to install the package.
 * @throws FishError PLUGIN_UNKNOWN when the package is not installed in any of the places
 */
export async function importPluginPackage(specifier: string, searchPaths: readonly PluginSearchPath[], relativeTo: string): Promise<{ module: Record<string, unknown>; file: string }> {
  let file: string | undefined;
  if (isPluginPath(specifier)) {
    const target = resolve(relativeTo, specifier);
    if (await isDirectory(target)) file = await packageEntry(target, specifier);
    else if (await isFile(target)) file = target;
    else
      throw new FishError({
        code: FishErrorCode.PLUGIN_UNKNOWN,
        message: errorMessage('registry', `plugin path "${specifier}" does not exist (${target}; a relative path is taken from ${relativeTo})`),
        details: { specifier, looked: [target] },
      });
  } else {
    const seen = new Set<string>();
    for (const place of searchPaths) {
      const start = resolve(place.dir);
      if (seen.has(start)) continue;
      seen.add(start);
      const folder = await findInstalled(specifier, start);
      if (folder) {
        file = await packageEntry(folder, specifier);
        break;
      }
    }
    if (file === undefined) {
      const places = searchPaths.map((place) => `${place.label} (${join(resolve(place.dir), 'node_modules')} and its parents)`);
      const first = searchPaths[0];
      throw new FishError({
        code: FishErrorCode.PLUGIN_UNKNOWN,
        message: errorMessage(
          'registry',
          `plugin package "${specifier}" is not installed: looked in ${places.join(', then ')}. Install it${first ? ` there: cd ${resolve(first.dir)} && npm install ${specifier}` : `: npm install ${specifier}`}`,
        ),
        details: { specifier, looked: searchPaths.map((place) => resolve(place.dir)) },
      });
    }
  }
  try {
    return { module: (await import(pathToFileURL(file).href)) as Record<string, unknown>, file };
  } catch (error) {
    throw new FishError({ code: FishErrorCode.PLUGIN_INVALID, message: errorMessage('registry', `plugin "${specifier}" failed to load from ${file}: ${(error as Error).message}`), cause: error });
  }
}
