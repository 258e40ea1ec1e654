import { execFile } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { unsupportedNode } from '../src/node-version.js';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'cli.js');
const LAUNCHER = join(here, '..', '..', '..', 'scripts', 'with-node.sh');
const run = (file: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  promisify(execFile)(file, args, { env, timeout: 120_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, signal: null as NodeJS.Signals | null, stdout, stderr }),
    (error: { code?: number; signal?: NodeJS.Signals | null; stdout: string; stderr: string }) => ({
      code: error.code ?? -1,
      signal: error.signal ?? null,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );

/** The machine's own old Node when it has one (this project's machines ship Node 20). */
async function oldNode(): Promise<string | undefined> {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    const result = await run(candidate, ['-p', 'process.versions.node']);
    if (result.code === 0 && Number(result.stdout.split('.')[0]) < 22) return candidate;
  }
  return undefined;
}

/** A folder whose `node` is older than 22: the machine's, or one that says it is Node 20. */
async function oldNodeFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'fish-old-node-'));
  const old = await oldNode();
  const shim = old ? `#!/bin/sh\nexec ${old} "$@"\n` : `#!/bin/sh\nif [ "$1" = "-p" ]; then echo 20; exit 0; fi\nexit 139\n`;
  await writeFile(join(folder, 'node'), shim);
  await chmod(join(folder, 'node'), 0o755);
  return folder;
}

describe('unsupported Node', () => {
  it('is refused by version, with what was found, what is needed and how to get it', () => {
    expect(unsupportedNode('24.1.0')).toBeUndefined();
    expect(unsupportedNode('22.0.0')).toBeUndefined();
    const refusal = unsupportedNode('20.20.2')!;
    expect(refusal).toContain('Node.js 20.20.2 is not supported');
    expect(refusal).toContain('needs Node.js 22 or newer');
    expect(refusal).toContain('nvm install 24');
    expect(refusal).not.toContain('\n');
  });

  it('fish-sre under an old Node prints one clear line and exits 1, never a segfault', async () => {
    const old = await oldNode();
    // Without an old Node on this machine, the current one is made to report 20.0.0.
    const result = old
      ? await run(old, [CLI, 'demo', '--yes'])
      : await run(process.execPath, ['--import', `data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.0.0"})`, CLI, 'demo', '--yes']);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^fish-sre: Node\.js 20\.\d+\.\d+ is not supported; fish-sre needs Node\.js 22 or newer/);
  });
});

describe('the npm scripts launcher', () => {
  it('runs the command under Node >= 22 with a working SQLite driver when an older Node is first on PATH', async () => {
    const folder = await oldNodeFolder();
    const env = { ...process.env, PATH: `${folder}:${process.env.PATH ?? ''}` };
    const result = await run(
      'bash',
      [LAUNCHER, 'node', '-e', "const db = new (require('better-sqlite3'))(':memory:'); console.log(process.versions.node, db.prepare('select 1 + 1 as two').get().two); db.close()"],
      env,
    );
    expect(result.stderr).not.toMatch(/Segmentation|Error/);
    expect(result.code).toBe(0);
    const [version, two] = result.stdout.trim().split(' ');
    expect(Number(version!.split('.')[0])).toBeGreaterThanOrEqual(22);
    expect(two).toBe('2');
  });

  it('is what npm start, npm test and npm run bench go through', async () => {
    const { readFile } = await import('node:fs/promises');
    const scripts = (JSON.parse(await readFile(join(here, '..', '..', '..', 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'test', 'bench']) expect(scripts[name]).toMatch(/^bash scripts\/with-node\.sh /);
  });
});
