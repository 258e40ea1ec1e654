import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * A third-party plugin installed in the user's project (not beside fish-sre), loaded by the real
 * CLI started from another working directory, as a global `fish-sre` under systemd does.
 */
const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const CATALOG = resolve(import.meta.dirname, '../../../catalog');
const REPO = resolve(import.meta.dirname, '../../..');

/** An ESM-only package (its `exports` has only an `import` condition) with two notifiers. */
const PLUGIN = `import { definePlugin } from '@fish-sre/core';
import { z } from 'zod';
const notifier = (type) => definePlugin({
  kind: 'notifier', type, packageName: 'fishhook', version: '1.0.0',
  optionsSchema: z.strictObject({ url: z.url() }),
  create: (options, context) => ({
    specificationVersion: 'v1', name: context.name,
    async propose() { return { id: '1', channel: type }; },
    async notify() { return { id: '2', channel: type }; },
    async check() { return { ok: true, detail: \`\${type} from fishhook, posting to \${options.url}\` }; },
  }),
});
export const webhookNotifierPlugin = notifier('webhook');
export const pagerNotifierPlugin = notifier('pager');
`;

function config(notifier: string): string {
  return `catalog: ${CATALOG}
dataDir: ./state
approval:
  publicUrl: https://fish.example.net
  secret: "${'s'.repeat(40)}"
sources:
  - type: file
    options: { path: ${join(project, 'app.jsonl')} }
${notifier}
executor:
  type: local
  options: { scriptsDir: ${join(CATALOG, 'scripts')}, sandboxDir: /tmp }
audit: { type: memory }
metrics: null
`;
}

function fishCli(args: string[], cwd: string): Promise<{ status: number; output: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '' }, timeout: 20_000 }, (error, stdout, stderr) => {
      done({ status: error ? (typeof error.code === 'number' ? error.code : -1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

let project: string;
let elsewhere: string;

async function writeConfig(name: string, notifier: string): Promise<string> {
  const file = join(project, name);
  await writeFile(file, config(notifier));
  return file;
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'fish-project-'));
  elsewhere = await mkdtemp(join(tmpdir(), 'fish-cwd-'));
  await writeFile(join(project, 'app.jsonl'), '');
  // The plugin package, with its peer dependencies installed beside it as npm would.
  const modules = join(project, 'node_modules');
  await mkdir(join(modules, 'fishhook', 'dist'), { recursive: true });
  await writeFile(
    join(modules, 'fishhook', 'package.json'),
    JSON.stringify({ name: 'fishhook', version: '1.0.0', type: 'module', exports: { '.': { import: './dist/index.js' } }, peerDependencies: { '@fish-sre/core': '^0.1.0', zod: '^4.0.0' } }),
  );
  await writeFile(join(modules, 'fishhook', 'dist', 'index.js'), PLUGIN);
  await mkdir(join(modules, '@fish-sre'), { recursive: true });
  await symlink(join(REPO, 'packages', 'core'), join(modules, '@fish-sre', 'core'));
  await symlink(dirname(resolve(REPO, 'node_modules', 'zod', 'package.json')), join(modules, 'zod'));
  // A plugin kept as a file beside the config, named by a relative path.
  await mkdir(join(project, 'plugins'));
  await writeFile(join(project, 'plugins', 'pager.js'), PLUGIN.replace("export const webhookNotifierPlugin = notifier('webhook');\n", ''));
}, 20_000);

describe('third-party plugins found where the user installed them', () => {
  it('loads an ESM-only package from the config file folder, the plugin named by package and type', async () => {
    const file = await writeConfig('by-package.yaml', 'notifier:\n  package: fishhook\n  type: pager\n  options: { url: "https://hooks.example.net/x" }');
    const { status, output } = await fishCli(['doctor', '--config', file], elsewhere);
    expect(output).toMatch(/✓ notifier pager: pager from fishhook, posting to https:\/\/hooks\.example\.net\/x/);
    expect(status, output).toBe(0);
  }, 25_000);

  it('loads a plugin by a path relative to the config file, not to the working directory', async () => {
    const file = await writeConfig('by-path.yaml', 'notifier:\n  type: ./plugins/pager.js\n  name: phone\n  options: { url: "https://hooks.example.net/y" }');
    const { status, output } = await fishCli(['doctor', '--config', file], elsewhere);
    expect(output).toMatch(/✓ notifier phone: pager from fishhook, posting to https:\/\/hooks\.example\.net\/y/);
    expect(status, output).toBe(0);
  }, 25_000);

  it('asks which plugin is meant when the package has several of the kind', async () => {
    const file = await writeConfig('ambiguous.yaml', 'notifier:\n  type: fishhook\n  options: { url: "https://hooks.example.net/z" }');
    const { status, output } = await fishCli(['run', '--config', file], elsewhere);
    expect(output).toContain(`${file}:10: notifier.type: package "fishhook" exports 2 notifier plugins (pager, webhook): name one with \`package: fishhook\` and \`type: pager\``);
    expect(status).toBe(78);
  }, 25_000);

  it('refuses a bad option of a third-party plugin with the file, the line and the option', async () => {
    const file = await writeConfig('bad-option.yaml', 'notifier:\n  package: fishhook\n  type: webhook\n  options:\n    url: "https://hooks.example.net/z"\n    urll: x');
    const { status, output } = await fishCli(['run', '--config', file], elsewhere);
    expect(output).toContain(`${file}:14: notifier.options.urll: unknown option "urll" (did you mean "url"?)`);
    expect(status).toBe(78);
  }, 25_000);

  it('says the three places it looked and how to install when the package is missing', async () => {
    const file = await writeConfig('missing.yaml', 'notifier:\n  package: fish-notify-matrix\n  type: matrix');
    const { status, output } = await fishCli(['run', '--config', file], elsewhere);
    expect(status).toBe(78);
    expect(output).toContain(
      `${file}:10: notifier.package: plugin package "fish-notify-matrix" is not installed: looked in the config file's folder (${join(project, 'node_modules')} and its parents), then the working directory (${join(elsewhere, 'node_modules')} and its parents), then fish-sre's own install (`,
    );
    expect(output).toContain(`cd ${project} && npm install fish-notify-matrix`);
  }, 25_000);
});
