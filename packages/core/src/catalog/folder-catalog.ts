import { createHash } from 'node:crypto';
import { access, constants, readdir, readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { FishError, FishErrorCode, errorMessage } from '../errors.js';
import type { Catalog, CatalogUpdate } from '../contracts/catalog.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { sleep } from '../util/sleep.js';
import { requireDurationUnits } from '../util/duration.js';
import { DisableStubSchema, PatternSchema, type CatalogSnapshot, type Pattern, type PatternDisable, type PatternOrigin } from './catalog-schema.js';

/** One thing wrong with the catalog: which file, which pattern, which field, what was expected. */
export interface CatalogProblem {
  file: string;
  patternId?: string;
  /** Dotted path of the field, e.g. `required_signals[0].log.message`. */
  path?: string;
  line?: number;
  message: string;
}

export function formatCatalogProblem(problem: CatalogProblem): string {
  const where = [problem.file + (problem.line ? `:${problem.line}` : ''), problem.patternId ? `pattern "${problem.patternId}"` : undefined, problem.path ? `field ${problem.path}` : undefined]
    .filter(Boolean)
    .join(', ');
  return `${where}: ${problem.message}`;
}

export interface FolderCatalogOptions {
  /** `<dir>/patterns/*.yaml` and `<dir>/scripts/`, or YAML files directly in `<dir>`. */
  directory: string;
  /** The layer name given in each pattern's origin. @default the directory, relative to the working directory */
  layer?: string;
  /** Check that every script a pattern names exists and is executable. @default true */
  checkScripts?: boolean;
  /** A folder without pattern files is valid (a user's layer not written yet). @default false */
  allowEmpty?: boolean;
  /** Further folders a script may be in when it is not in this one's `scripts/` (lower layers'). */
  fallbackScriptDirs?: readonly string[];
  /** How often `watch` looks at the folder's file names, sizes and times. @default 2000 */
  pollIntervalMs?: number;
  clock?: Clock;
}

/** A path as messages show it: relative to the working directory when below it, else absolute. */
export function displayPath(path: string): string {
  const below = relative(process.cwd(), path);
  return below && !below.startsWith('..') && !isAbsolute(below) ? below : path;
}
const display = displayPath;

function pathToString(path: ReadonlyArray<PropertyKey>): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('');
}

/** Locates a YAML node for a zod path, to report a line number. */
function lineOf(document: ReturnType<typeof parseDocument>, text: string, path: ReadonlyArray<PropertyKey>): number | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node = document.getIn(path.slice(0, length) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return text.slice(0, node.range[0]).split('\n').length;
  }
  return undefined;
}

async function patternsFolder(directory: string): Promise<string> {
  const patternsDir = join(directory, 'patterns');
  try {
    return (await stat(patternsDir)).isDirectory() ? patternsDir : directory;
  } catch {
    return directory;
  }
}

async function listPatternFiles(directory: string): Promise<{ patternsDir: string; files: string[] }> {
  const patternsDir = await patternsFolder(directory);
  let entries: string[];
  try {
    entries = await readdir(patternsDir);
  } catch (error) {
    throw new FishError({
      code: FishErrorCode.CATALOG_INVALID,
      message: errorMessage('catalog', `cannot read the catalog folder ${patternsDir}: ${(error as Error).message}`),
      cause: error,
      details: { problems: [{ file: patternsDir, message: 'folder not readable' }] },
    });
  }
  return { patternsDir, files: entries.filter((name) => /\.ya?ml$/.test(name)).sort() };
}

/** Names, sizes, times and modes of the pattern and script files: changes when anything may have. */
async function folderFingerprint(directory: string): Promise<string> {
  const hash = createHash('sha256');
  for (const folder of [await patternsFolder(directory), join(directory, 'scripts')]) {
    let names: string[] = [];
    try {
      names = (await readdir(folder)).sort();
    } catch {
      hash.update(`missing:${folder}\0`);
    }
    for (const name of names) {
      try {
        const info = await stat(join(folder, name));
        hash.update(`${folder}/${name}:${info.size}:${info.mtimeMs}:${info.mode}\0`);
      } catch {
        hash.update(`gone:${name}\0`);
      }
    }
  }
  return hash.digest('hex');
}

async function checkScripts(pattern: Pattern, origin: PatternOrigin, folders: readonly string[], problems: CatalogProblem[], scriptDigests: Record<string, string>): Promise<void> {
  for (const step of ['fix', 'verify', 'rollback'] as const) {
    const script = pattern[step]?.script;
    if (!script) continue;
    let found = false;
    for (const folder of folders) {
      try {
        await access(join(folder, script), constants.X_OK);
        // What a proposal pins: the content of the script as loaded (the first folder that has it).
        scriptDigests[script] ??= createHash('sha256')
          .update(await readFile(join(folder, script)))
          .digest('hex');
        found = true;
        break;
      } catch {
        // not in this folder: the next (lower) layer's may have it
      }
    }
    if (!found) problems.push({ file: origin.file, patternId: pattern.id, path: `${step}.script`, message: `script "${script}" not found or not executable in ${folders.map(display).join(', ')}` });
  }
}

/** The CATALOG_INVALID error listing every problem, as `file:line, pattern "id", field path: message`. */
export function catalogInvalid(where: string, problems: CatalogProblem[]): FishError {
  return new FishError({
    code: FishErrorCode.CATALOG_INVALID,
    message: errorMessage('catalog', `${problems.length} problem(s) in ${where}:\n  ${problems.map(formatCatalogProblem).join('\n  ')}`),
    details: { problems },
  });
}

async function loadFolder(options: FolderCatalogOptions): Promise<CatalogSnapshot> {
  const { directory } = options;
  const layer = options.layer ?? display(directory);
  const clock = options.clock ?? systemClock;
  const { patternsDir, files } = await listPatternFiles(directory);
  const scriptsDir = join(directory, 'scripts');
  const problems: CatalogProblem[] = [];
  const patterns: Pattern[] = [];
  const origins: Record<string, PatternOrigin> = {};
  const disabled: PatternDisable[] = [];
  const byId = new Map<string, string>();
  const digest = createHash('sha256');
  const scriptDigests: Record<string, string> = {};

  if (files.length === 0 && !options.allowEmpty) problems.push({ file: display(patternsDir), message: 'no pattern files (*.yaml) found' });

  for (const name of files) {
    const file = display(join(patternsDir, name));
    const text = await readFile(join(patternsDir, name), 'utf8');
    digest.update(name).update('\0').update(text).update('\0');
    const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (document.errors.length > 0) {
      for (const error of document.errors) problems.push({ file, line: error.linePos?.[0]?.line, message: `YAML syntax: ${error.message.split('\n')[0]}` });
      continue;
    }
    const raw = document.toJS() as unknown;
    const isObject = typeof raw === 'object' && raw !== null;
    const rawId = isObject && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : undefined;
    const isStub = isObject && 'disabled' in raw;
    const parsed = isStub ? DisableStubSchema.safeParse(raw) : requireDurationUnits(() => PatternSchema.safeParse(raw));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        // An unknown key is reported at the key itself (its own field path and line), so a typo
        // like `timout:` points at the line to fix rather than at the enclosing object.
        const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : [undefined];
        for (const key of keys) {
          const path = key === undefined ? issue.path : [...issue.path, key];
          const message = key === undefined ? issue.message : isStub ? `unknown field "${key}" (a disable stub holds only id, disabled: true and reason)` : `unknown field "${key}"`;
          problems.push({ file, patternId: rawId, path: pathToString(path) || undefined, line: lineOf(document, text, path), message });
        }
      }
      continue;
    }
    const id = parsed.data.id;
    const origin: PatternOrigin = { layer, file, line: lineOf(document, text, ['id']) ?? 1 };
    const expectedName = basename(name).replace(/\.ya?ml$/, '');
    if (expectedName !== id) problems.push({ file, line: origin.line, patternId: id, path: 'id', message: `the id must match the file name ("${expectedName}")` });
    const previous = byId.get(id);
    if (previous) {
      problems.push({ file, line: origin.line, patternId: id, path: 'id', message: `duplicate pattern id, already defined in ${previous}` });
      continue;
    }
    byId.set(id, `${file}:${origin.line}`);
    if ('disabled' in parsed.data) {
      const reason = parsed.data.reason;
      disabled.push({ id, origin, ...(reason ? { reason } : {}) });
      continue;
    }
    const pattern = parsed.data as Pattern;
    if (options.checkScripts !== false) await checkScripts(pattern, origin, [scriptsDir, ...(options.fallbackScriptDirs ?? [])], problems, scriptDigests);
    patterns.push(pattern);
    origins[id] = origin;
  }

  if (problems.length > 0) throw catalogInvalid(display(directory), problems);
  // A script edited in place changes the catalog digest too (a reload reports it as a change).
  for (const [script, sha256] of Object.entries(scriptDigests).sort(([a], [b]) => (a < b ? -1 : 1))) digest.update(`script:${script}`).update('\0').update(sha256).update('\0');
  return {
    patterns,
    scriptsDir,
    scriptDirs: [scriptsDir],
    loadedFrom: directory,
    loadedAt: clock.now(),
    digest: digest.digest('hex'),
    origins,
    disabled,
    ...(options.checkScripts !== false ? { scriptDigests } : {}),
  };
}

/**
 * Yields the current snapshot (or why it cannot load) first, then polls `fingerprint` every
 * `intervalMs` and reloads when it changes: a new snapshot when its digest differs from the last
 * one reported (or the previous load failed), a failure when a load fails. The fingerprint is
 * taken before each load, so a change made while loading is seen at the next poll, never lost.
 * Polling rather than `fs.watch`: it sees editors' rename-over saves, bind mounts and network
 * folders alike, and costs a `readdir` and a few `stat`s per interval.
 */
export async function* pollCatalog(catalog: Pick<Catalog, 'load'>, fingerprint: () => Promise<string>, intervalMs: number, signal: AbortSignal): AsyncGenerator<CatalogUpdate> {
  let seen = await fingerprint();
  let lastDigest: string | undefined;
  let failing = false;
  let first = true;
  while (!signal.aborted) {
    if (!first) {
      await sleep(intervalMs, signal);
      if (signal.aborted) return;
      const now = await fingerprint();
      if (now === seen) continue;
      seen = now;
    }
    try {
      const snapshot = await catalog.load(signal);
      if (!first && snapshot.digest === lastDigest && !failing) continue;
      lastDigest = snapshot.digest;
      failing = false;
      yield { ok: true, snapshot };
    } catch (error) {
      failing = true;
      yield { ok: false, error: FishError.isInstance(error) ? error : new FishError({ code: FishErrorCode.CATALOG_INVALID, message: errorMessage('catalog', String(error)), cause: error }) };
    } finally {
      first = false;
    }
  }
}

/** @internal the folder's change fingerprint, for the layered catalog's watch. */
export const fingerprintFolder = folderFingerprint;

/**
 * The built-in Catalog: one folder of pattern files, one pattern per file named after its id.
 * A file holding only `id`, `disabled: true` (and `reason`) is a disable stub, reported in the
 * snapshot's `disabled` for a layered catalog to apply. Collects every problem in every file
 * before failing; each names the file, line, pattern and field.
 */
export function createFolderCatalog(options: FolderCatalogOptions): Catalog {
  const catalog: Catalog = {
    specificationVersion: 'v1',
    name: options.layer ?? display(options.directory),
    load: () => loadFolder(options),
    watch: (signal) => pollCatalog(catalog, () => folderFingerprint(options.directory), options.pollIntervalMs ?? 2000, signal),
  };
  return catalog;
}
