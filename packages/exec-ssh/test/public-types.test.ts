import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(PACKAGE, '..', '..');
const DTS = join(PACKAGE, 'dist', 'index.d.ts');

/**
 * The published types must not need ssh2's: a consumer that type-checks libraries
 * (`skipLibCheck: false`) and has no `@types/ssh2` installed compiles against them.
 */
describe('published types', () => {
  const project = mkdtempSync(join(tmpdir(), 'exec-ssh-consumer-'));
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('never import ssh2', () => {
    const text = readFileSync(DTS, 'utf8');
    expect(text).not.toMatch(/from ['"]ssh2['"]/);
    expect(text).not.toMatch(/import\(['"]ssh2['"]\)/);
  });

  it('compile in a strict consumer without @types/ssh2 (skipLibCheck: false)', () => {
    const modules = join(project, 'node_modules');
    mkdirSync(join(modules, '@fish-sre'), { recursive: true });
    mkdirSync(join(modules, '@types'), { recursive: true });
    // Only what a consumer of exec-ssh has: the package itself, its peers, and Node's types.
    symlinkSync(PACKAGE, join(modules, '@fish-sre', 'exec-ssh'));
    symlinkSync(join(ROOT, 'packages', 'core'), join(modules, '@fish-sre', 'core'));
    symlinkSync(join(ROOT, 'node_modules', 'zod'), join(modules, 'zod'));
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(modules, '@types', 'node'));
    symlinkSync(join(ROOT, 'node_modules', 'undici-types'), join(modules, 'undici-types'));
    writeFileSync(
      join(project, 'consumer.ts'),
      [
        "import { createSshPool, createSshExecutor, type SshPool, type SshRunResult } from '@fish-sre/exec-ssh';",
        'const pool: SshPool = createSshPool({ targets: {} });',
        'const executor = createSshExecutor({ pool });',
        "export async function probe(): Promise<SshRunResult> { return pool.run('vm', { argv: ['uptime'] }, { timeoutMs: 1000 }); }",
        'export const hosts: string[] = executor.hosts();',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2023',
          lib: ['ES2023'],
          types: ['node'],
          preserveSymlinks: true,
        },
        files: ['consumer.ts'],
      }),
    );
    writeFileSync(join(project, 'package.json'), '{"type": "module"}');
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8', cwd: dirname(project) });
    expect(result.stdout + result.stderr).not.toMatch(/ssh2/);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  }, 240_000);
});
