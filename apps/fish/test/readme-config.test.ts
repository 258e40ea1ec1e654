import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseOptions, requireDurationUnits, type PluginKind } from '@fish-sre/core';
import { FishConfigSchema, loadConfig } from '../src/config.js';
import { createFishRegistry } from '../src/plugins.js';
import { openCatalog } from '../src/catalog-layers.js';

// Every YAML example in the documentation is text users copy. Each fenced yaml block of every
// README and guide is found here and either loaded as a fish config by the real loader (a whole
// file, or the sections it shows completed by a minimal base), each plugin's options checked by
// its own schema exactly as `PluginRegistry.create` checks them, or named below as not being a
// fish config. A new block cannot slip past: an unclassified one fails.

const root = resolve(import.meta.dirname, '../../..');

/** Blocks that are not fish configuration, each with what it is instead. Keyed by file and first key. */
const NOT_FISH_CONFIG: Record<string, string> = {
  'packages/source-prom/README.md receivers': "Alertmanager's own config (the webhook receiver that posts to fish)",
  'catalog/README.md id': 'a catalog pattern, checked by the catalog tests',
  'catalog/README.md required_signals': "a pattern's signal list (an `absent` signal), checked whole in catalog/patterns/restic-backup-silent.yaml by the catalog tests",
  'README.md notifier': 'a fragment naming a third-party notifier package (fish-notify-matrix) that is not installed here, to show `type:` taking a package name',
};

/**
 * A third-party package named in a guide that is not installed here: its options are checked by
 * the schema of the package it is written from.
 */
const EXAMPLE_PACKAGES: Record<string, string | null> = {
  // docs/plugin-authoring.md publishes the template under this name.
  'fish-notify-pager': '@fish-sre/template-notifier',
  // The README's example of naming a third-party package: a package that does not exist, so only
  // the config around it is checked (it loads, the type is a package name), not its options.
  'fish-notify-matrix': null,
};

/** Values for the `${VAR}`s the examples use, in the form each plugin expects. */
const ENV: Record<string, string> = {
  FISH_APPROVAL_SECRET: 'a'.repeat(44),
  FISH_ALERTMANAGER_TOKEN: 'b'.repeat(32),
  FISH_NTFY_TOPIC: 'fish-homelab-7f3k',
  FISH_NTFY_TOKEN: 'tk_abcdefghijklmnopqrstuvwxyz012',
  FISH_TELEGRAM_BOT_TOKEN: '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0',
  CREDENTIALS_DIRECTORY: '/run/credentials/fish.service',
  ANTHROPIC_API_KEY: 'sk-ant-test-0000000000000000',
  FISH_DATABASE_URL: 'postgres://fish:secret@db.lan:5432/fish',
  FISH_WEBHOOK_TOKEN: 'c'.repeat(32),
  PAGER_TOKEN: 'd'.repeat(32),
  MATRIX_TOKEN: `syt_${'e'.repeat(32)}`,
};

interface Block {
  where: string;
  text: string;
}

function documentationFiles(): string[] {
  const inFolders = (folder: string, name: (entry: string) => string | undefined) =>
    existsSync(join(root, folder))
      ? readdirSync(join(root, folder))
          .flatMap((entry) => name(entry) ?? [])
          .filter((path) => existsSync(join(root, path)))
      : [];
  return [
    'README.md',
    'catalog/README.md',
    ...inFolders('packages', (entry) => `packages/${entry}/README.md`),
    ...inFolders('apps', (entry) => `apps/${entry}/README.md`),
    ...inFolders('examples', (entry) => `examples/${entry}/README.md`),
    ...inFolders('docs', (entry) => (entry.endsWith('.md') ? `docs/${entry}` : undefined)),
  ];
}

function yamlBlocks(file: string): Block[] {
  const markdown = readFileSync(join(root, file), 'utf8');
  return [...markdown.matchAll(/^```ya?ml[^\n]*\n([\s\S]*?)^```/gm)].map((match) => ({ where: `${file}:${markdown.slice(0, match.index).split('\n').length}`, text: match[1]! }));
}

const FISH_KEYS = new Set(Object.keys(FishConfigSchema.shape));
const blocks = documentationFiles().flatMap(yamlBlocks);

function firstKey(block: Block): string {
  const value = parse(block.text) as unknown;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${block.where}: a YAML block that is not a mapping`);
  return Object.keys(value)[0] ?? '';
}

const isFishConfig = (block: Block) => Object.keys(parse(block.text) as object).every((key) => FISH_KEYS.has(key));

/** The block as a whole config file: the sections it does not show come from a minimal base; host paths point into `directory`. */
function asConfigFile(block: Block, directory: string): string {
  const shown = new Set(Object.keys(parse(block.text) as object));
  const base: Record<string, string> = {
    catalog: `catalog: ${JSON.stringify(join(root, 'catalog'))}`,
    dataDir: `dataDir: ${JSON.stringify(join(directory, 'state'))}`,
    approval: 'approval: { publicUrl: https://fish.example.net, secret: "${FISH_APPROVAL_SECRET}" }',
    sources: `sources: [{ type: file, options: { path: ${JSON.stringify(join(directory, 'app.jsonl'))} } }]`,
    notifier: 'notifier: { type: ntfy, options: { server: https://ntfy.sh, topic: fish-readme-example } }',
    executor:
      'executor: { type: ssh, options: { targets: { penny: { host: 192.168.1.10, username: fish, privateKeyPath: /etc/fish-sre/key, hostKey: { knownHostsPath: /etc/fish-sre/known_hosts } } } } }',
    audit: `audit: { type: sqlite, options: { path: ${JSON.stringify(join(directory, 'audit.sqlite'))} } }`,
  };
  // The folders a README names (/opt/fish-sre/catalog, /var/lib/fish) are the reader's host's.
  // A layer list naming `bundled` keeps its form (its own folders are made in `directory` by the test).
  const catalogLine = /^catalog:.*$/m.exec(block.text)?.[0] ?? '';
  const text = (catalogLine.includes('bundled') ? block.text : block.text.replace(/^catalog:.*$/m, base.catalog!)).replace(/^dataDir:.*$/m, base.dataDir!);
  // `notifiers:` (a list) stands in for `notifier:`.
  return [
    text,
    ...Object.entries(base)
      .filter(([key]) => !shown.has(key) && !(key === 'notifier' && shown.has('notifiers')))
      .map(([, line]) => line),
  ].join('\n');
}

/** The user's own catalog folders a `catalog: [bundled, ./folder]` line names, relative to the config. */
function ownCatalogFolders(block: Block): string[] {
  const value = (parse(block.text) as { catalog?: unknown }).catalog;
  const layers = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return layers.filter((layer): layer is string => typeof layer === 'string' && layer !== 'bundled' && !layer.startsWith('/'));
}

describe('YAML examples in the documentation', () => {
  it('finds the examples (the root README config, plugin READMEs, the plugin guide)', () => {
    const files = new Set(blocks.map((block) => block.where.split(':')[0]));
    expect([...files]).toEqual(expect.arrayContaining(['README.md', 'docs/plugin-authoring.md', 'packages/notify-telegram/README.md']));
  });

  it('classifies every block: a fish config, or named as something else', () => {
    const unclassified = blocks.filter((block) => !isFishConfig(block) && !NOT_FISH_CONFIG[`${block.where.split(':')[0]} ${firstKey(block)}`]);
    expect(unclassified.map((block) => `${block.where} (starts with "${firstKey(block)}:")`)).toEqual([]);
  });

  for (const block of blocks.filter((candidate) => isFishConfig(candidate) && !NOT_FISH_CONFIG[`${candidate.where.split(':')[0]} ${firstKey(candidate)}`])) {
    it(`${block.where} loads as a fish config and every plugin accepts its options`, async () => {
      const directory = await mkdtemp(join(tmpdir(), 'fish-readme-'));
      await mkdir(join(directory, 'state'));
      const file = join(directory, 'fish.yaml');
      await writeFile(file, asConfigFile(block, directory));
      for (const folder of ownCatalogFolders(block)) await mkdir(join(directory, folder, 'patterns'), { recursive: true });
      const config = await loadConfig(file, ENV);
      const registry = createFishRegistry();
      const plugins: Array<[PluginKind, string, { type: string; package?: string; options?: unknown }]> = [
        ...config.sources.map((source, index) => ['source', `sources[${index}]`, source] as [PluginKind, string, typeof source]),
        ...config.notifiers.map((notifier, index) => ['notifier', `notifiers[${index}]`, notifier] as [PluginKind, string, typeof notifier]),
        ['executor', 'executor', config.executor],
        ['audit', 'audit', config.audit],
        ...(config.llm ? [['llm', 'llm', config.llm] as [PluginKind, string, typeof config.llm]] : []),
      ];
      for (const [kind, where, plugin] of plugins) {
        // A third-party plugin is named by `package` (+ `type`), or by its package name as `type`.
        const name = plugin.package ?? plugin.type;
        const example = EXAMPLE_PACKAGES[name];
        if (example === null) {
          expect(name, where).toMatch(/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*-[\w.-]*$/);
          continue;
        }
        const descriptor = example === undefined ? await registry.resolve(kind, plugin.type, plugin.package) : await registry.resolve(kind, example);
        // The path PluginRegistry.create takes: strict options, durations with their units.
        expect(() => requireDurationUnits(() => parseOptions(descriptor.optionsSchema, plugin.options ?? {}, plugin.type, `${relative(root, file)} ${where}`))).not.toThrow();
      }
    });
  }
});

// The README's homelab config names the seed catalog and an own folder: the layers load, and a
// disable stub in the own folder takes the seed pattern out.
describe("the README's homelab config", () => {
  it('loads the bundled catalog beneath the own folder', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /```yaml\n(# \/etc\/fish-sre\/fish\.yaml[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const directory = await mkdtemp(join(tmpdir(), 'fish-readme-'));
    await mkdir(join(directory, 'my-patterns', 'patterns'), { recursive: true });
    await writeFile(join(directory, 'my-patterns', 'patterns', 'loki-empty-ring.yaml'), 'id: loki-empty-ring\ndisabled: true\n');
    await mkdir(join(directory, 'state'));
    const file = join(directory, 'fish.yaml');
    await writeFile(file, block!.replace('/var/lib/fish', join(directory, 'state')));
    const config = await loadConfig(file, ENV);
    expect(config.catalog).toEqual(['bundled', join(directory, 'my-patterns')]);
    expect(config.catalogWatch).toEqual({ every: 10_000 });
    const catalog = await openCatalog(config.catalog, directory).load();
    expect(catalog.disabled?.map((stub) => stub.id)).toEqual(['loki-empty-ring']);
    expect(catalog.patterns.length).toBeGreaterThan(5);
  });
});
