import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '../errors.js';
import { createMemoryLogger } from '../util/logger.js';
import { CatalogHolder } from './catalog-loader.js';
import type { CatalogReloadResult } from './catalog-loader.js';
import { createLayeredCatalog } from './layered-catalog.js';
import { formatPatternOrigin } from '../contracts/catalog.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

const pattern = (id: string, title: string, script?: string) =>
  [
    `id: ${id}`,
    `title: ${title}`,
    'target_host: penny',
    'required_signals:',
    '  - id: line',
    '    log:',
    `      message: "${id} failed"`,
    ...(script ? [`fix:\n  script: ${script}`, 'verify:\n  script: verify.sh'] : ['diagnosis: look at it']),
    'samples:',
    `  match: ["${id} failed"]`,
    '',
  ].join('\n');

async function layer(files: Record<string, string>, scripts: string[] = []): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'fish-layer-'));
  roots.push(root);
  await mkdir(join(root, 'patterns'));
  await mkdir(join(root, 'scripts'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(root, 'patterns', name), text);
  for (const script of scripts) {
    await writeFile(join(root, 'scripts', script), '#!/bin/sh\nexit 0\n');
    await chmod(join(root, 'scripts', script), 0o755);
  }
  return root;
}

async function refusal(promise: Promise<unknown>): Promise<FishError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(FishError.hasCode(error, FishErrorCode.CATALOG_INVALID)).toBe(true);
  return error as FishError;
}

describe('createLayeredCatalog', () => {
  it('adds, overrides whole (saying which it replaced) and disables by id, in layer order', async () => {
    const seed = await layer({ 'web-down.yaml': pattern('web-down', 'Web down', 'fix.sh'), 'disk-full.yaml': pattern('disk-full', 'Disk full'), 'noisy.yaml': pattern('noisy', 'Noisy') }, [
      'fix.sh',
      'verify.sh',
    ]);
    const own = await layer({
      'web-down.yaml': pattern('web-down', 'Web down, my way'),
      'noisy.yaml': '# not on my machines\nid: noisy\ndisabled: true\nreason: no such service here\n',
      'mine.yaml': pattern('mine', 'Mine'),
    });
    const snapshot = await createLayeredCatalog({
      layers: [
        { name: 'bundled', directory: seed },
        { name: 'own', directory: own },
      ],
    }).load();
    expect(snapshot.patterns.map((each) => [each.id, each.title])).toEqual([
      ['disk-full', 'Disk full'],
      ['web-down', 'Web down, my way'],
      ['mine', 'Mine'],
    ]);
    // Replaced whole: the override (diagnosis only) inherits nothing from the seed's pattern (which has a fix).
    expect(snapshot.patterns[1]!.fix).toBeUndefined();
    expect(snapshot.origins!['web-down']).toMatchObject({ layer: 'own', line: 1, overrides: { layer: 'bundled', line: 1 } });
    expect(snapshot.origins!['web-down']!.file).toContain(join(own, 'patterns', 'web-down.yaml').split('/').slice(-3).join('/'));
    expect(snapshot.origins!['web-down']!.overrides!.file).toContain(join(seed, 'patterns', 'web-down.yaml').split('/').slice(-3).join('/'));
    expect(formatPatternOrigin(snapshot.origins!['web-down']!)).toMatch(/web-down\.yaml:1 \(own\), overrides .*web-down\.yaml:1 \(bundled\)$/);
    expect(snapshot.origins!['disk-full']!.layer).toBe('bundled');
    expect(snapshot.disabled).toEqual([
      expect.objectContaining({ id: 'noisy', reason: 'no such service here', origin: expect.objectContaining({ layer: 'own', line: 2 }), removed: expect.objectContaining({ layer: 'bundled' }) }),
    ]);
    expect(snapshot.scriptDirs).toEqual([join(own, 'scripts'), join(seed, 'scripts')]);
  });

  it("finds a higher layer's script in a lower layer's scripts folder, and names every folder it looked in otherwise", async () => {
    const seed = await layer({ 'web-down.yaml': pattern('web-down', 'Web down', 'fix.sh') }, ['fix.sh', 'verify.sh']);
    const own = await layer({ 'web-down.yaml': pattern('web-down', 'Web down, restarted', 'fix.sh'), 'api-down.yaml': pattern('api-down', 'API down', 'api-restart.sh') });
    const error = await refusal(
      createLayeredCatalog({
        layers: [
          { name: 'bundled', directory: seed },
          { name: 'own', directory: own },
        ],
      }).load(),
    );
    expect(error.details['problems']).toEqual([expect.objectContaining({ patternId: 'api-down', path: 'fix.script' })]);
    expect(error.message).toMatch(/script "api-restart\.sh" not found or not executable in .*scripts, .*scripts/);
  });

  it('refuses a disable stub with nothing below it, a duplicate id in one layer (naming both files) and a bad stub, all at once', async () => {
    const seed = await layer({ 'web-down.yaml': pattern('web-down', 'Web down') });
    const own = await layer({
      'typo.yaml': 'id: typo\ndisabled: true\n',
      'mine.yaml': pattern('mine', 'Mine'),
      'mine.yml': pattern('mine', 'Mine again'),
      'web-down.yaml': 'id: web-down\ndisabled: true\nbecause: old\n',
    });
    const error = await refusal(
      createLayeredCatalog({
        layers: [
          { name: 'bundled', directory: seed },
          { name: './own', directory: own },
        ],
      }).load(),
    );
    expect(error.message).toMatch(/mine\.yml:1, pattern "mine", field id: duplicate pattern id, already defined in .*mine\.yaml:1/);
    expect(error.message).toMatch(/web-down\.yaml:3, pattern "web-down", field because: unknown field "because" \(a disable stub holds only id, disabled: true and reason\)/);
    const typo = await refusal(
      createLayeredCatalog({
        layers: [
          { name: 'bundled', directory: seed },
          { name: './own', directory: await layer({ 'typo.yaml': 'id: typo\ndisabled: true\n' }) },
        ],
      }).load(),
    );
    expect(typo.message).toMatch(/typo\.yaml:1, pattern "typo", field disabled: nothing to disable: no lower layer \(bundled\) defines pattern "typo"/);
    const alone = await refusal(
      createLayeredCatalog({ layers: [{ name: 'own', directory: await layer({ 'typo.yaml': 'id: typo\ndisabled: true\n', 'mine.yaml': pattern('mine', 'Mine') }) }] }).load(),
    );
    expect(alone.message).toContain('"own" is the lowest catalog layer');
  });

  it('accepts an own layer without pattern files yet, but not an empty lowest layer', async () => {
    const seed = await layer({ 'web-down.yaml': pattern('web-down', 'Web down') });
    const snapshot = await createLayeredCatalog({
      layers: [
        { name: 'bundled', directory: seed },
        { name: 'own', directory: await layer({}) },
      ],
    }).load();
    expect(snapshot.patterns.map((each) => each.id)).toEqual(['web-down']);
    const empty = await refusal(createLayeredCatalog({ layers: [{ name: 'own', directory: await layer({}) }] }).load());
    expect(empty.message).toContain('no pattern files (*.yaml) found');
  });

  it('reports problems of every layer in one error', async () => {
    const seed = await layer({ 'web-down.yaml': pattern('web-down', 'Web down').replace('target_host: penny\n', '') });
    const own = await layer({ 'mine.yaml': pattern('mine', 'Mine').replace('title: Mine', 'title: ""') });
    const error = await refusal(
      createLayeredCatalog({
        layers: [
          { name: 'bundled', directory: seed },
          { name: 'own', directory: own },
        ],
      }).load(),
    );
    expect((error.details['problems'] as Array<{ path?: string }>).map((problem) => problem.path).sort()).toEqual(['target_host', 'title']);
    expect(error.message).toContain('2 problem(s) in bundled + own');
  });
});

describe('CatalogHolder.follow', () => {
  it("applies the catalog's watch updates, keeps the last good snapshot on a failure, and stops on abort", async () => {
    const seed = await layer({ 'web-down.yaml': pattern('web-down', 'Web down') });
    const own = await layer({ 'mine.yaml': pattern('mine', 'Mine') });
    const logger = createMemoryLogger();
    const holder = await CatalogHolder.load(
      createLayeredCatalog({
        layers: [
          { name: 'bundled', directory: seed },
          { name: 'own', directory: own },
        ],
        pollIntervalMs: 20,
      }),
      { logger },
    );
    const results: CatalogReloadResult[] = [];
    const abort = new AbortController();
    let notify: () => void = () => {};
    const nextResult = () => new Promise<void>((resolve) => (notify = resolve));
    let waiting = nextResult();
    const following = holder.follow(abort.signal, (result) => {
      results.push(result);
      notify();
    });
    await waiting; // the current state first: unchanged
    expect(results).toEqual([expect.objectContaining({ ok: true, changed: false })]);
    waiting = nextResult();
    await writeFile(join(own, 'patterns', 'web-down.yaml'), 'id: web-down\ndisabled: true\n');
    await waiting;
    expect(holder.catalog.patterns.map((each) => each.id)).toEqual(['mine']);
    const good = holder.catalog;
    waiting = nextResult();
    await writeFile(join(own, 'patterns', 'web-down.yaml'), 'id: web-down\ndisabled: yes please\n');
    await waiting;
    expect(results.map((result) => result.ok)).toEqual([true, true, false]);
    expect(holder.catalog).toBe(good);
    expect(logger.lines.some((line) => line.level === 'error' && line.message.includes('keeping the last good catalog'))).toBe(true);
    abort.abort();
    await following;
  });
});
