#!/usr/bin/env node
// `npm run pack-check`: what a user gets from npm, checked outside this repository.
//
// Packs every publishable package, serves the tarballs from a local registry (third-party
// dependencies pass through to the real one), and in a temporary folder outside the repository:
//   1. checks each tarball's files (LICENSE, README, core's error-code reference) and runs publint
//      and @arethetypeswrong/cli --profile esm-only on it;
//   2. installs every package by name into a fresh project, runs the embed example there and
//      type-checks a strict TypeScript consumer (`strict`, `skipLibCheck: false`, `nodenext`)
//      importing every package's public API;
//   3. writes the third-party notifier plugin of docs/plugin-authoring.md from the page's own code
//      blocks, builds it, runs it through testkit's testPluginDescriptor and testNotifier, packs it;
//   4. installs the CLI globally (`npm i -g --prefix <tmp>`), installs the plugin into a site folder
//      beside a fish.yaml naming it, and runs `fish-sre doctor` from another folder.
// Every failure prints the package (or step) and what went wrong; the exit status is 1 if any.
// `--keep` keeps the temporary folder.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { workspacePackages } from './check-packages.mjs';
import { startLocalRegistry } from './local-registry.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const keep = process.argv.includes('--keep');
const started = performance.now();
const failures = [];
const fail = (who, what) => {
  failures.push(`${who}: ${what}`);
  console.log(`  ✗ ${who}: ${what}`);
};
const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

/** Runs a program with an argv list (never a shell); resolves with its code and output. */
function run(file, args, options = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 64 * 1024 * 1024, timeout: options.timeout ?? 600_000, cwd: options.cwd ?? root, env: { ...process.env, ...options.env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr, output: `${stdout}${stderr}` });
    });
  });
}
const tail = (text, lines = 15) => text.trim().split('\n').slice(-lines).join('\n    ');

async function step(name, body) {
  const since = performance.now();
  console.log(`▶ ${name}`);
  try {
    await body();
  } catch (error) {
    fail(name, error instanceof Error ? error.message : String(error));
  }
  console.log(`  ${name}: ${seconds(since)}`);
}

const work = realpathSync(mkdtempSync(join(tmpdir(), 'fish-pack-check-')));
if (!relative(root, work).startsWith('..')) throw new Error(`the temporary folder ${work} is inside the repository`);
const npmEnv = { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', npm_config_prefer_offline: 'true' };
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const publishable = workspacePackages(root).filter(({ manifest }) => !manifest.private);
const tarballs = [];
let registry;

await step('npm pack', async () => {
  mkdirSync(join(work, 'tarballs'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', join(work, 'tarballs'), ...publishable.flatMap(({ manifest }) => ['-w', manifest.name])]);
  if (packed.code !== 0) throw new Error(`npm pack failed:\n    ${tail(packed.output)}`);
  const license = readFileSync(join(root, 'LICENSE'), 'utf8');
  for (const entry of JSON.parse(packed.stdout)) {
    const { folder, manifest } = publishable.find((candidate) => candidate.manifest.name === entry.name);
    const files = new Set(entry.files.map((file) => file.path));
    const where = entry.name;
    if (!files.has('LICENSE')) fail(where, 'LICENSE is not in the tarball');
    else if (readFileSync(join(folder, 'LICENSE'), 'utf8') !== license) fail(where, 'the LICENSE shipped differs from the repository LICENSE');
    if (!files.has('README.md')) fail(where, 'README.md is not in the tarball');
    const strays = [...files].filter((file) => /\.test\.[cm]?[jt]s$|(^|\/)__fixtures__\//.test(file) || (/^src\//.test(file) && manifest.name !== '@fish-sre/catalog'));
    if (strays.length > 0) fail(where, `ships sources or tests: ${strays.slice(0, 5).join(', ')}`);
    tarballs.push({ name: entry.name, path: join(work, 'tarballs', entry.filename), manifest, files });
  }
  const core = tarballs.find((tarball) => tarball.name === '@fish-sre/core');
  if (!core?.files.has('dist/docs/errors.md')) fail('@fish-sre/core', 'dist/docs/errors.md (the error codes messages refer to) is not in the tarball');
  else if (!existsSync(join(root, 'packages/core/dist/docs/errors.md')) || readFileSync(join(root, 'packages/core/dist/docs/errors.md'), 'utf8') !== readFileSync(join(root, 'docs/errors.md'), 'utf8'))
    fail('@fish-sre/core', 'dist/docs/errors.md differs from docs/errors.md (rebuild core)');
  console.log(`  ${tarballs.length} tarballs: ${tarballs.map((tarball) => `${tarball.name}@${tarball.manifest.version}`).join(', ')}`);
  registry = await startLocalRegistry({ tarballs });
});
if (!registry) {
  console.log(`pack-check: stopped, nothing packed (${seconds(started)})`);
  process.exit(1);
}
// Only our scope comes from the local registry; everything else as a user gets it.
const scope = `--@fish-sre:registry=${registry.url}`;

/** publint and attw on each tarball, as they would see the published package. */
async function lintTarballs() {
  const since = performance.now();
  const attw = join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
  const publint = join(root, 'node_modules', 'publint', 'src', 'cli.js');
  for (const tarball of tarballs) {
    const linted = await run(process.execPath, [publint, 'run', tarball.path, '--strict']);
    if (linted.code !== 0 || !/All good/.test(linted.stdout)) fail(tarball.name, `publint:\n    ${tail(linted.output)}`);
    if (!tarball.manifest.exports) continue; // a data package (the catalog): no module entry point to type
    const typed = await run(process.execPath, [attw, tarball.path, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji', '--no-color']);
    if (typed.code !== 0) fail(tarball.name, `@arethetypeswrong/cli --profile esm-only:\n    ${tail(typed.output, 30)}`);
  }
  console.log(`  publint --strict and attw --profile esm-only on ${tarballs.length} tarballs: ${seconds(since)}`);
}

const project = join(work, 'project');
const site = join(work, 'site');
const globalPrefix = join(work, 'global');
const pluginFolder = join(project, 'fish-notify-pager');
let pluginTarball;

/** A fresh project: every package installed by name, the example run, a strict consumer checked. */
async function projectChecks() {
  await step('install every package into a fresh project', async () => {
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`);
    const installed = await run('npm', ['install', scope, ...tarballs.map((tarball) => tarball.name), '@types/node@^24'], { cwd: project, env: npmEnv });
    if (installed.code !== 0) throw new Error(`npm install failed:\n    ${tail(installed.output)}`);
  });

  await step('the embed example, against the installed packages', async () => {
    const example = join(root, 'examples', 'embed-in-your-bot', 'index.mjs');
    cpSync(example, join(project, 'embed.mjs'));
    const result = await run(process.execPath, [join(project, 'embed.mjs')], { cwd: project, timeout: 60_000 });
    if (result.code !== 0 || !/\[bot\] execution succeeded: run exit 0, verify exit 0/.test(result.stdout))
      fail('examples/embed-in-your-bot', `did not end with a succeeded execution (exit ${result.code}):\n    ${tail(result.output)}`);
  });

  await step('a strict TypeScript consumer of every public API', async () => {
    const typed = tarballs.filter((tarball) => tarball.manifest.exports);
    const lines = typed.map((tarball, index) => `import * as package${index} from '${tarball.name}';`);
    lines.push(`export const apis = [${typed.map((_tarball, index) => `package${index}`).join(', ')}];`);
    // A few uses through the types, so the declarations are read as a consumer reads them.
    lines.push("import { type Notifier, type FishEngineOptions, FishError } from '@fish-sre/core';");
    lines.push(
      "export const notifier: Notifier = { specificationVersion: 'v1', name: 'consumer', propose: async () => ({ id: '1', channel: 'consumer' }), notify: async () => ({ id: '2', channel: 'consumer' }) };",
    );
    lines.push('export const isFishError = (error: unknown): boolean => FishError.isInstance(error);');
    lines.push('export type EngineOptions = FishEngineOptions;');
    writeFileSync(join(project, 'consumer.ts'), `${lines.join('\n')}\n`);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify(
        { compilerOptions: { strict: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2023', noEmit: true, types: ['node'] }, files: ['consumer.ts'] },
        null,
        2,
      ),
    );
    const result = await run(process.execPath, [tsc, '-p', join(project, 'tsconfig.json')], { cwd: project });
    if (result.code !== 0) {
      const byPackage = new Map();
      for (const line of result.stdout.split('\n').filter((text) => /error TS/.test(text))) {
        const owner = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)?.[1] ?? 'consumer.ts';
        byPackage.set(owner, [...(byPackage.get(owner) ?? []), line.trim()]);
      }
      for (const [owner, errors] of byPackage) fail(owner, `strict type-check (skipLibCheck: false):\n    ${errors.slice(0, 5).join('\n    ')}`);
      if (byPackage.size === 0) fail('consumer.ts', tail(result.output));
    }
  });

  await step('the third-party plugin of docs/plugin-authoring.md: build, testNotifier, pack', async () => {
    const page = readFileSync(join(root, 'docs', 'plugin-authoring.md'), 'utf8');
    const blocks = [...page.matchAll(/\(file: ([^)]+)\)[\s\S]*?\n```\w*\n([\s\S]*?\n)```/g)];
    const expected = ['package.json', 'tsconfig.json', 'src/index.ts', 'src/index.test.ts'];
    const found = blocks.map((block) => block[1]);
    for (const file of expected) if (!found.includes(file)) throw new Error(`docs/plugin-authoring.md has no block labelled "(file: ${file})"`);
    for (const [, file, content] of blocks) {
      mkdirSync(dirname(join(pluginFolder, file)), { recursive: true });
      writeFileSync(join(pluginFolder, file), content);
    }
    writeFileSync(join(pluginFolder, 'README.md'), '# fish-notify-pager\n\nA fish-sre notifier that pages through an HTTP webhook (docs/plugin-authoring.md).\n');
    const built = await run(process.execPath, [tsc, '-p', join(pluginFolder, 'tsconfig.json')], { cwd: pluginFolder });
    if (built.code !== 0) throw new Error(`tsc failed on the page's code:\n    ${tail(built.stdout)}`);
    const tested = await run(join(project, 'node_modules', '.bin', 'vitest'), ['run', '--root', pluginFolder, '--maxWorkers=1'], { cwd: pluginFolder, env: { CI: 'true' } });
    const output = stripVTControlCharacters(tested.output);
    const passed = /Tests\s+(\d+) passed/.exec(output);
    if (tested.code !== 0 || !passed) throw new Error(`testPluginDescriptor / testNotifier failed:\n    ${tail(output, 30)}`);
    console.log(`  the plugin passed ${passed[1]} conformance tests`);
    const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: pluginFolder });
    if (packed.code !== 0) throw new Error(`npm pack of the plugin failed:\n    ${tail(packed.output)}`);
    const [entry] = JSON.parse(packed.stdout);
    pluginTarball = { name: entry.name, path: join(work, entry.filename), manifest: JSON.parse(readFileSync(join(pluginFolder, 'package.json'), 'utf8')) };
  });
}

async function globalInstall() {
  await step('npm i -g --prefix <tmp> @fish-sre/fish', async () => {
    // --ignore-scripts, as npm 11 does in the project for every package its package.json has not
    // allowed: the optional native addons (unix-dgram for the watchdog, ssh2's cpu-features) would
    // compile for minutes, and fish runs without them (better-sqlite3 ships prebuilt binaries).
    const installed = await run('npm', ['install', scope, '--global', '--ignore-scripts', '--prefix', globalPrefix, '@fish-sre/fish'], { cwd: work, env: npmEnv });
    if (installed.code !== 0) throw new Error(`npm install --global failed:\n    ${tail(installed.output)}`);
  });
}

await Promise.all([lintTarballs(), projectChecks(), globalInstall()]);

await step('global fish-sre doctor with a config naming the plugin installed beside it', async () => {
  if (!pluginTarball) throw new Error('skipped: the plugin was not built');
  const cli = join(globalPrefix, 'bin', 'fish-sre');
  if (!existsSync(cli)) throw new Error('skipped: the global install has no fish-sre');
  mkdirSync(join(site, 'scripts'), { recursive: true });
  writeFileSync(join(site, 'package.json'), `${JSON.stringify({ name: 'fish-site', private: true }, null, 2)}\n`);
  // As a user installs a plugin they wrote or downloaded; its peer @fish-sre/core comes from the registry.
  const installed = await run('npm', ['install', scope, pluginTarball.path], { cwd: site, env: npmEnv });
  if (installed.code !== 0) throw new Error(`npm install ${pluginTarball.name} in the site folder failed:\n    ${tail(installed.output)}`);
  writeFileSync(join(site, 'app.log'), '');
  writeFileSync(
    join(site, 'fish.yaml'),
    [
      'catalog: bundled # the seed catalog the global CLI brings',
      'dataDir: data',
      'approval: { publicUrl: "https://fish.example.net", secret: "${FISH_APPROVAL_SECRET}", listen: { host: 127.0.0.1, port: 0 } }',
      // Absolute paths: this checks where the plugin is found, not how relative paths resolve.
      `sources: [{ type: file, options: { path: ${JSON.stringify(join(site, 'app.log'))} } }]`,
      `notifier: { type: ${pluginTarball.name}, options: { url: "http://127.0.0.1:9/page", token: "\${PAGER_TOKEN}" } }`,
      `executor: { type: local, options: { scriptsDir: ${JSON.stringify(join(site, 'scripts'))}, sandboxDir: ${JSON.stringify(join(site, 'data'))}, hosts: [penny] } }`,
      'audit: { type: sqlite, options: { path: audit.sqlite } }',
      'metrics: null',
      '',
    ].join('\n'),
  );
  // From another folder: the plugin must be found from the config file's folder, not the cwd.
  const result = await run(cli, ['doctor', '--config', join(site, 'fish.yaml')], {
    cwd: work,
    timeout: 60_000,
    env: { FISH_APPROVAL_SECRET: 'p'.repeat(40), PAGER_TOKEN: 'tk_pager_token_0123456789', PATH: `${join(globalPrefix, 'bin')}:${process.env.PATH}` },
  });
  if (result.code !== 0 || !/✓ notifier pager/.test(result.stdout)) {
    const known = /Cannot find package 'fish-notify-pager'/.test(result.output) ? ' (plugin resolution from the config folder is not in this version)' : '';
    throw new Error(`fish-sre doctor exit ${result.code}${known}:\n    ${tail(result.output)}`);
  }
  console.log(
    `  ${result.stdout
      .trim()
      .split('\n')
      .filter((line) => /notifier|audit|catalog/.test(line))
      .join('\n  ')}`,
  );
});

await registry.close();
if (failures.length === 0 && !keep) rmSync(work, { recursive: true, force: true });
console.log(
  failures.length === 0
    ? `pack-check: all passed in ${seconds(started)}`
    : `pack-check: ${failures.length} failure(s) in ${seconds(started)}${keep || failures.length ? `; files kept in ${work}` : ''}\n  ${failures.map((failure) => failure.split('\n')[0]).join('\n  ')}`,
);
process.exit(failures.length === 0 ? 0 : 1);
