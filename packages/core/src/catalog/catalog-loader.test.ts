import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '../errors.js';
import { createMemoryLogger } from '../util/logger.js';
import { CatalogHolder, loadCatalog } from './catalog-loader.js';
import { catalogJsonSchema, type CatalogSnapshot } from './catalog-schema.js';
import { Matcher } from '../pipeline/matcher.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

const GOOD = `id: stack-down
title: Compose stack stopped after reboot
target_host: penny
required_signals:
  - id: exited
    log:
      message: "exited with code \\\\d+"
fix:
  script: fix.sh
  timeout: 2m
verify:
  script: verify.sh
samples:
  match: ["container homepage exited with code 1"]
  no_match: ["container homepage started"]
`;

async function makeCatalog(files: Record<string, string>, scripts: Record<string, number> = { 'fix.sh': 0o755, 'verify.sh': 0o755, 'rollback.sh': 0o755 }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'fish-catalog-'));
  roots.push(root);
  await mkdir(join(root, 'patterns'));
  await mkdir(join(root, 'scripts'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(root, 'patterns', name), text);
  for (const [name, mode] of Object.entries(scripts)) {
    await writeFile(join(root, 'scripts', name), '#!/bin/sh\nexit 0\n');
    await chmod(join(root, 'scripts', name), mode);
  }
  return root;
}

async function loadError(files: Record<string, string>, scripts?: Record<string, number>): Promise<FishError> {
  const root = await makeCatalog(files, scripts);
  try {
    await loadCatalog(root);
  } catch (error) {
    expect(FishError.hasCode(error, FishErrorCode.CATALOG_INVALID)).toBe(true);
    return error as FishError;
  }
  throw new Error('the catalog loaded but should have been refused');
}

/** Asserts the message names the file, the pattern id and the field, and says what was wrong. */
function expectProblem(error: FishError, field: string, what: RegExp, file = 'stack-down.yaml'): void {
  expect(error.message).toContain(file);
  expect(error.message).toContain('pattern "stack-down"');
  expect(error.message).toContain(`field ${field}`);
  expect(error.message).toMatch(what);
}

describe('loadCatalog', () => {
  it('loads a valid folder with defaults applied', async () => {
    const root = await makeCatalog({ 'stack-down.yaml': GOOD });
    const catalog = await loadCatalog(root);
    expect(catalog.patterns).toHaveLength(1);
    const [pattern] = catalog.patterns;
    expect(pattern).toMatchObject({ id: 'stack-down', on_failure: 'escalate', min_confidence: 1, cooldown: 1_800_000, trigger: { count: 1, window: 300_000 } });
    expect(pattern!.fix!.timeout).toBe(120_000);
    expect(pattern!.verify!.timeout).toBe(60_000);
    expect(catalog.scriptsDir).toBe(join(root, 'scripts'));
    expect(catalog.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports a YAML syntax error with its line', async () => {
    const error = await loadError({ 'stack-down.yaml': `${GOOD}extra: [unclosed\n` });
    expect(error.message).toMatch(/stack-down\.yaml:1[67]/);
    expect(error.message).toContain('YAML syntax');
  });

  it('reports an unknown field', async () => {
    const error = await loadError({ 'stack-down.yaml': GOOD.replace('  timeout: 2m', '  timeout: 2m\n  timout: 3m') });
    expectProblem(error, 'fix.timout', /unknown field "timout"/);
    expect(error.message).toContain('stack-down.yaml:11,');
    const root = await loadError({ 'stack-down.yaml': `${GOOD}colour: blue\n` });
    expectProblem(root, 'colour', /unknown field "colour"/);
    expect(root.message).toContain('stack-down.yaml:16,');
  });

  it('reports a missing required field', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('title: Compose stack stopped after reboot\n', '') }), 'title', /expected string/);
  });

  it('reports a bad regex', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('"exited with code \\\\d+"', '"exited (with code"') }), 'required_signals[0].log.message', /invalid regular expression/);
  });

  it('refuses a regex the linear-time engine cannot run (look-ahead, back-reference), naming file, line and field', async () => {
    const error = await loadError({ 'stack-down.yaml': GOOD.replace('"exited with code \\\\d+"', '"exited (?=with) code"') });
    expectProblem(error, 'required_signals[0].log.message', /not supported by the linear-time regex engine/);
    expect(error.message).toMatch(/stack-down\.yaml:\d+/);
    const backReference = await loadError({ 'stack-down.yaml': GOOD.replace('"exited with code \\\\d+"', '"(exited) \\\\1"') });
    expectProblem(backReference, 'required_signals[0].log.message', /linear-time/);
  });

  it('loads a catastrophic-backtracking regex and the matcher runs it in linear time', async () => {
    const root = await makeCatalog({ 'stack-down.yaml': GOOD.replace('"exited with code \\\\d+"', '"^(a+)+$"') });
    const catalog = await loadCatalog(root);
    const matcher = new Matcher(catalog, { maxMessageLength: 300_000 });
    // 2^262144 paths for a backtracking engine; one pass for the linear one.
    const evil = { id: 'x', kind: 'log' as const, source: 't', time: 0, host: 'penny', service: 'homepage', level: 'error' as const, labels: {}, message: `${'a'.repeat(256 * 1024)}!` };
    expect(matcher.match(evil)).toEqual([]);
    expect(matcher.match({ ...evil, message: 'a'.repeat(256 * 1024) }).map((hit) => hit.pattern.id)).toEqual(['stack-down']);
  });

  it('accepts a multi-line signal (followed_by ... within) and exports it in the JSON Schema', async () => {
    const text = GOOD.replace(
      /( +)message: "exited with code \\\\d\+"\n/,
      (_all, indent: string) => `${indent}message: "exited with code \\\\d+"\n${indent}followed_by:\n${indent}  message: "^Restarting"\n${indent}  within: 10s\n`,
    );
    expect(text).toContain('followed_by');
    const catalog = await loadCatalog(await makeCatalog({ 'stack-down.yaml': text }), { checkScripts: false });
    expect(catalog.patterns[0]!.required_signals[0]!.log!.followed_by).toEqual({ message: '^Restarting', ignore_case: false, within: 10_000 });
    expect(JSON.stringify(catalogJsonSchema())).toContain('followed_by');
    expectProblem(await loadError({ 'stack-down.yaml': text.replace('within: 10s', 'within: soon') }), 'required_signals[0].log.followed_by.within', /duration/);
  });

  it('reports a bad duration', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('timeout: 2m', 'timeout: 2 minutes') }), 'fix.timeout', /expected a duration/);
  });

  it('refuses a duration without its unit, saying so (a bare number could be seconds or milliseconds)', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('timeout: 2m', 'timeout: 120') }), 'fix.timeout', /120 has no unit: write a duration with its unit, like "120s" or "120ms"/);
    expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('timeout: 2m', 'timeout: "120"') }), 'fix.timeout', /"120" has no unit/);
    const catalog = await loadCatalog(await makeCatalog({ 'stack-down.yaml': GOOD.replace('timeout: 2m', 'timeout: 0') }), { checkScripts: false });
    expect(catalog.patterns[0]!.fix!.timeout).toBe(0);
  });

  it('reports a signal with two kinds, and one with none', async () => {
    const two = GOOD.replace('      message: "exited with code \\\\d+"', '      message: "exited"\n    metric:\n      query: up\n      op: "=="\n      threshold: 0');
    expectProblem(await loadError({ 'stack-down.yaml': two }), 'required_signals[0]', /exactly one of log, metric, alert or absent/);
    const none = GOOD.replace('    log:\n      message: "exited with code \\\\d+"\n', '    description: nothing\n');
    expectProblem(await loadError({ 'stack-down.yaml': none }), 'required_signals[0]', /exactly one of log, metric, alert or absent/);
  });

  it('reports a duplicate signal id', async () => {
    const duplicate = GOOD.replace('fix:', '  - id: exited\n    log:\n      message: again\nfix:');
    expectProblem(await loadError({ 'stack-down.yaml': duplicate }), 'required_signals[1].id', /duplicate signal id "exited"/);
  });

  it('reports a duplicate pattern id across files', async () => {
    const error = await loadError({ 'stack-down.yaml': GOOD, 'stack-down.yml': GOOD });
    expectProblem(error, 'id', /duplicate pattern id, already defined in .*stack-down\.yaml/, 'stack-down.yml');
  });

  it('reports an id that does not match the file name', async () => {
    expectProblem(await loadError({ 'stack-stopped.yaml': GOOD }), 'id', /must match the file name \("stack-stopped"\)/, 'stack-stopped.yaml');
  });

  it('reports on_failure rollback without a rollback script', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': `${GOOD}on_failure: rollback\n` }), 'rollback', /no rollback script/);
  });

  it('reports a fix without verify', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('verify:\n  script: verify.sh\n', '') }), 'verify', /must declare a verify script/);
  });

  it('reports a pattern with neither fix nor diagnosis', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('fix:\n  script: fix.sh\n  timeout: 2m\nverify:\n  script: verify.sh\n', '') }), 'diagnosis', /without a fix must explain itself/);
  });

  it('reports a missing script and a script that is not executable', async () => {
    expectProblem(await loadError({ 'stack-down.yaml': GOOD }, { 'verify.sh': 0o755 }), 'fix.script', /script "fix\.sh" not found or not executable/);
    expectProblem(await loadError({ 'stack-down.yaml': GOOD }, { 'fix.sh': 0o644, 'verify.sh': 0o755 }), 'fix.script', /script "fix\.sh" not found or not executable/);
  });

  it('refuses a script name that is a path', async () => {
    for (const name of ['../x.sh', '/bin/x.sh', 'sub/x.sh', 'X.sh', 'x.py']) {
      expectProblem(await loadError({ 'stack-down.yaml': GOOD.replace('script: fix.sh', `script: ${JSON.stringify(name)}`) }), 'fix.script', /script file name like/);
    }
  });

  it('refuses an empty folder', async () => {
    const root = await makeCatalog({});
    await expect(loadCatalog(root)).rejects.toThrow(/no pattern files/);
  });

  it('collects the problems of every file in one error', async () => {
    const error = await loadError({
      'stack-down.yaml': GOOD.replace('timeout: 2m', 'timeout: soon'),
      'other-one.yaml': GOOD.replace('id: stack-down', 'id: other-one').replace('target_host: penny\n', ''),
    });
    const problems = error.details['problems'] as Array<{ file: string; path?: string }>;
    expect(problems.map((problem) => problem.path).sort()).toEqual(['fix.timeout', 'target_host']);
    expect(error.message).toContain('2 problem(s)');
  });
});

describe('CatalogHolder', () => {
  it('keeps the last good catalog when a reload fails, and picks up a good change', async () => {
    const root = await makeCatalog({ 'stack-down.yaml': GOOD });
    const logger = createMemoryLogger();
    const holder = await CatalogHolder.load(root, { logger });
    const first = holder.catalog;
    const changes: CatalogSnapshot[] = [];
    holder.onChange((catalog) => changes.push(catalog));

    await writeFile(join(root, 'patterns', 'stack-down.yaml'), GOOD.replace('timeout: 2m', 'timeout: later'));
    const broken = await holder.reload();
    expect(broken.ok).toBe(false);
    expect(broken.error?.message).toContain('stack-down.yaml');
    expect(broken.error?.message).toContain('field fix.timeout');
    expect(holder.catalog).toBe(first);
    expect(changes).toHaveLength(0);
    expect(logger.lines.some((line) => line.level === 'error' && line.message.includes('keeping the last good catalog'))).toBe(true);

    await writeFile(join(root, 'patterns', 'stack-down.yaml'), GOOD.replace('Compose stack stopped after reboot', 'Stack stopped'));
    const good = await holder.reload();
    expect(good).toMatchObject({ ok: true, changed: true });
    expect(holder.catalog.patterns[0]!.title).toBe('Stack stopped');
    expect(changes).toHaveLength(1);

    const same = await holder.reload();
    expect(same).toMatchObject({ ok: true, changed: false });
    expect(changes).toHaveLength(1);
  });

  it('reloads on SIGHUP until unwatched', async () => {
    expect(isMainThread).toBe(true); // signals reach only the main thread: never send one from a worker thread
    const root = await makeCatalog({ 'stack-down.yaml': GOOD });
    const holder = await CatalogHolder.load(root);
    const unwatch = holder.watchSignal('SIGHUP');
    try {
      await writeFile(join(root, 'patterns', 'stack-down.yaml'), GOOD.replace('Compose stack stopped after reboot', 'Reloaded by SIGHUP'));
      const changed = new Promise<CatalogSnapshot>((resolve) => holder.onChange(resolve));
      process.kill(process.pid, 'SIGHUP');
      expect((await changed).patterns[0]!.title).toBe('Reloaded by SIGHUP');
      expect(holder.catalog.patterns[0]!.title).toBe('Reloaded by SIGHUP');
    } finally {
      unwatch();
    }
    expect(process.listenerCount('SIGHUP')).toBe(0);
  });
});

describe('catalogJsonSchema', () => {
  it('describes the pattern fields', () => {
    const schema = catalogJsonSchema() as { type?: string; properties?: Record<string, unknown>; required?: string[] };
    expect(schema.type).toBe('object');
    for (const field of ['id', 'title', 'required_signals', 'target_host', 'fix', 'verify', 'on_failure', 'rollback', 'promote_to_autoexec_after', 'samples', 'trigger', 'cooldown']) {
      expect(schema.properties).toHaveProperty(field);
    }
    expect(schema.required).toEqual(expect.arrayContaining(['id', 'title', 'required_signals', 'target_host', 'samples']));
    expect(JSON.stringify(schema)).toContain('"rollback","escalate"');
  });
});
