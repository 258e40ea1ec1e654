import { createHash } from 'node:crypto';
import { access, constants, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { FishError, FishErrorCode, errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { PatternSchema, type Catalog, type Pattern } from './catalog-schema.js';
import { requireDurationUnits } from '../util/duration.js';

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

export interface LoadCatalogOptions {
  /** Check that every script a pattern names exists and is executable. @default true */
  checkScripts?: boolean;
  clock?: Clock;
}

function pathToString(path: ReadonlyArray<PropertyKey>): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('');
}

/** Locates a YAML node for a zod path, to report a line number. */
function lineOf(document: ReturnType<typeof parseDocument>, text: string, path: ReadonlyArray<PropertyKey>): number | undefined {
  for (let length = path.length; length >= 0; length--) {
    const node = document.getIn(path.slice(0, length) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return text.slice(0, node.range[0]).split('\n').length;
  }
  return undefined;
}

async function listPatternFiles(directory: string): Promise<{ patternsDir: string; files: string[] }> {
  let patternsDir = join(directory, 'patterns');
  try {
    if (!(await stat(patternsDir)).isDirectory()) patternsDir = directory;
  } catch {
    patternsDir = directory;
  }
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

/**
 * Loads a catalog folder (`<dir>/patterns/*.yaml` and `<dir>/scripts/`, or YAML files directly in
 * `<dir>`). Collects every problem in every file before failing, so one run tells the author
 * everything; the error lists each as `file:line, pattern "id", field path: message`.
 * @throws FishError CATALOG_INVALID with `details.problems: CatalogProblem[]`
 */
export async function loadCatalog(directory: string, options: LoadCatalogOptions = {}): Promise<Catalog> {
  const clock = options.clock ?? systemClock;
  const { patternsDir, files } = await listPatternFiles(directory);
  const scriptsDir = join(directory, 'scripts');
  const problems: CatalogProblem[] = [];
  const patterns: Pattern[] = [];
  const byId = new Map<string, string>();
  const digest = createHash('sha256');
  const scriptDigests: Record<string, string> = {};

  if (files.length === 0) problems.push({ file: relative(process.cwd(), patternsDir) || patternsDir, message: 'no pattern files (*.yaml) found' });

  for (const name of files) {
    const file = join(patternsDir, name);
    const display = relative(process.cwd(), file) || file;
    const text = await readFile(file, 'utf8');
    digest.update(name).update('\0').update(text).update('\0');
    const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        problems.push({ file: display, line: error.linePos?.[0]?.line, message: `YAML syntax: ${error.message.split('\n')[0]}` });
      }
      continue;
    }
    const raw = document.toJS() as unknown;
    const rawId = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : undefined;
    const parsed = requireDurationUnits(() => PatternSchema.safeParse(raw));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        // An unknown key is reported at the key itself (its own field path and line), so a typo
        // like `timout:` points at the line to fix rather than at the enclosing object.
        const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : [undefined];
        for (const key of keys) {
          const path = key === undefined ? issue.path : [...issue.path, key];
          problems.push({ file: display, patternId: rawId, path: pathToString(path) || undefined, line: lineOf(document, text, path), message: key === undefined ? issue.message : `unknown field "${key}"` });
        }
      }
      continue;
    }
    const pattern = parsed.data;
    const expectedName = basename(name).replace(/\.ya?ml$/, '');
    if (expectedName !== pattern.id) {
      problems.push({ file: display, patternId: pattern.id, path: 'id', message: `the id must match the file name ("${expectedName}")` });
    }
    const previous = byId.get(pattern.id);
    if (previous) {
      problems.push({ file: display, patternId: pattern.id, path: 'id', message: `duplicate pattern id, already defined in ${previous}` });
      continue;
    }
    byId.set(pattern.id, display);
    if (options.checkScripts !== false) {
      for (const step of ['fix', 'verify', 'rollback'] as const) {
        const script = pattern[step]?.script;
        if (!script) continue;
        try {
          await access(join(scriptsDir, script), constants.X_OK);
          scriptDigests[script] ??= createHash('sha256').update(await readFile(join(scriptsDir, script))).digest('hex');
        } catch {
          problems.push({ file: display, patternId: pattern.id, path: `${step}.script`, message: `script "${script}" not found or not executable in ${relative(process.cwd(), scriptsDir) || scriptsDir}` });
        }
      }
    }
    patterns.push(pattern);
  }

  if (problems.length > 0) {
    throw new FishError({
      code: FishErrorCode.CATALOG_INVALID,
      message: errorMessage('catalog', `${problems.length} problem(s) in ${relative(process.cwd(), directory) || directory}:\n  ${problems.map(formatCatalogProblem).join('\n  ')}`),
      details: { problems },
    });
  }
  // A script edited in place changes the catalog digest too (a reload reports it as a change).
  for (const [script, sha256] of Object.entries(scriptDigests).sort(([a], [b]) => (a < b ? -1 : 1))) digest.update(`script:${script}`).update('\0').update(sha256).update('\0');
  return { patterns, scriptsDir, loadedFrom: directory, loadedAt: clock.now(), digest: digest.digest('hex'), ...(options.checkScripts !== false ? { scriptDigests } : {}) };
}

export interface CatalogReloadResult {
  ok: boolean;
  changed: boolean;
  catalog: Catalog;
  error?: FishError;
}

/**
 * Holds the current catalog and reloads it on demand (SIGHUP). A reload that fails keeps the last
 * good catalog and says why; the loop never runs half a catalog.
 */
export class CatalogHolder {
  private listeners = new Set<(catalog: Catalog) => void>();

  private constructor(
    private current: Catalog,
    private readonly directory: string,
    private readonly options: LoadCatalogOptions & { logger?: Logger },
  ) {}

  static async load(directory: string, options: LoadCatalogOptions & { logger?: Logger } = {}): Promise<CatalogHolder> {
    return new CatalogHolder(await loadCatalog(directory, options), directory, options);
  }

  get catalog(): Catalog {
    return this.current;
  }

  onChange(listener: (catalog: Catalog) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async reload(): Promise<CatalogReloadResult> {
    try {
      const next = await loadCatalog(this.directory, this.options);
      const changed = next.digest !== this.current.digest;
      this.current = next;
      if (changed) for (const listener of this.listeners) listener(next);
      this.options.logger?.info(`catalog reloaded: ${next.patterns.length} patterns${changed ? '' : ' (unchanged)'}`);
      return { ok: true, changed, catalog: next };
    } catch (error) {
      const fishError = FishError.isInstance(error)
        ? error
        : new FishError({ code: FishErrorCode.CATALOG_INVALID, message: errorMessage('catalog', String(error)), cause: error });
      this.options.logger?.error(`catalog reload refused, keeping the last good catalog (${this.current.patterns.length} patterns): ${fishError.message}`);
      return { ok: false, changed: false, catalog: this.current, error: fishError };
    }
  }

  /** Reloads on SIGHUP until the returned function is called. */
  watchSignal(signal: NodeJS.Signals = 'SIGHUP'): () => void {
    const handler = () => void this.reload();
    process.on(signal, handler);
    return () => process.off(signal, handler);
  }
}
