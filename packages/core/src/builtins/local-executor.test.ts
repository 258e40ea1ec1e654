import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor, ExecutionRequest } from '../contracts/executor.js';
import { FishError, FishErrorCode } from '../errors.js';
import { createLocalExecutor } from './local-executor.js';

let root: string;
let scriptsDir: string;
let sandboxDir: string;
let executor: Executor;

async function script(name: string, body: string): Promise<void> {
  await writeFile(join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(scriptsDir, name), 0o755);
}

// The same check as testkit's processAlive, kept here on purpose: @fish-sre/testkit depends on
// core, so core's own tests cannot import it without a dependency cycle.
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie waiting for a reaper that is not us counts as dead.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

const request = (fields: Partial<ExecutionRequest>): ExecutionRequest => ({ host: 'localhost', verb: 'run', patternId: 'stack-down', script: 'ok.sh', timeoutMs: 10_000, ...fields });
const refusal = (code: string) => (error: unknown) => FishError.hasCode(error, code as FishError['code']);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fish-local-exec-'));
  scriptsDir = join(root, 'scripts');
  sandboxDir = join(root, 'sandbox');
  await mkdir(scriptsDir);
  await mkdir(sandboxDir);
  await mkdir(join(root, 'outside'));
  await script('ok.sh', 'echo "verb=$1 pattern=$FISH_PATTERN_ID cwd=$(pwd)"\necho "to stderr" >&2\necho ran >> runs.log');
  await script('exit7.sh', 'echo failing\nexit 7');
  await script('stubborn.sh', "trap '' TERM\necho $$ > stubborn.pid\nsleep 30 &\necho $! > stubborn-child.pid\nwhile :; do sleep 0.05; done");
  await script('daemon.sh', 'sleep 30 &\necho $! > daemon.pid\nexit 0');
  await script('loud.sh', "head -c 102400 /dev/zero | tr '\\0' 'x'");
  await writeFile(join(root, 'outside', 'evil.sh'), '#!/bin/sh\necho pwned > pwned\n');
  await chmod(join(root, 'outside', 'evil.sh'), 0o755);
  await symlink(join(root, 'outside', 'evil.sh'), join(scriptsDir, 'escape.sh'));
  await symlink(join(scriptsDir, 'ok.sh'), join(scriptsDir, 'alias.sh'));
  executor = createLocalExecutor({ scriptsDir, sandboxDir, hosts: ['localhost', 'penny'], killGraceMs: 200 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('createLocalExecutor', () => {
  it('runs a script with the verb as argv, in the sandbox, and reports its exit code and output', async () => {
    const result = await executor.run(request({ verb: 'verify', host: 'penny' }));
    expect(result).toMatchObject({ exitCode: 0, signal: null, timedOut: false, stderr: 'to stderr\n' });
    expect(result.stdout).toContain('verb=verify pattern=stack-down');
    expect(result.stdout).toContain(`cwd=${sandboxDir}`);
    expect(await readFile(join(sandboxDir, 'runs.log'), 'utf8')).toBe('ran\n');
    expect(await executor.run(request({ script: 'exit7.sh' }))).toMatchObject({ exitCode: 7, stdout: 'failing\n', timedOut: false });
    expect(executor.hosts!()).toEqual(['localhost', 'penny']);
  });

  it('follows a symlink that stays inside the scripts folder', async () => {
    expect(await executor.run(request({ script: 'alias.sh' }))).toMatchObject({ exitCode: 0 });
  });

  it('kills a script that ignores TERM (and its children) after the grace period', async () => {
    const result = await executor.run(request({ script: 'stubborn.sh', timeoutMs: 300 }));
    expect(result).toMatchObject({ timedOut: true, exitCode: null, signal: 'KILL' });
    expect(result.durationMs).toBeGreaterThanOrEqual(300);
    const pid = Number(await readFile(join(sandboxDir, 'stubborn.pid'), 'utf8'));
    const child = Number(await readFile(join(sandboxDir, 'stubborn-child.pid'), 'utf8'));
    expect(await waitDead(pid)).toBe(true);
    expect(await waitDead(child)).toBe(true);
  });

  it('ends a run whose script exited but left a child holding its output open', async () => {
    const started = Date.now();
    const result = await executor.run(request({ script: 'daemon.sh', timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.timedOut).toBe(true);
    const pid = Number(await readFile(join(sandboxDir, 'daemon.pid'), 'utf8'));
    expect(await waitDead(pid)).toBe(true);
  });

  it('stops a script when the request is aborted', async () => {
    const controller = new AbortController();
    const running = executor.run(request({ script: 'stubborn.sh', timeoutMs: 20_000, signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    const result = await running;
    expect(result.exitCode).toBeNull();
    expect(result.timedOut).toBe(false);
  });

  it('truncates output at 64 KiB with a marker saying how much was cut', async () => {
    const result = await executor.run(request({ script: 'loud.sh' }));
    expect(result.stdout.startsWith('x'.repeat(65_536))).toBe(true);
    expect(result.stdout).toBe(`${'x'.repeat(65_536)}\n[fish-sre: output truncated, ${102_400 - 65_536} more bytes not kept]`);
  });

  it.each([
    ['a path', { script: '../x.sh' }],
    ['an absolute path', { script: '/bin/sh' }],
    ['a name without .sh', { script: 'ok' }],
    ['an upper-case name', { script: 'OK.sh' }],
    ['a bad verb', { verb: 'exec' as ExecutionRequest['verb'] }],
    ['a bad pattern id', { patternId: '$(reboot)' }],
  ])('refuses %s', async (_name, fields) => {
    await expect(executor.run(request(fields))).rejects.toSatisfy(refusal(FishErrorCode.EXECUTOR_REFUSED));
  });

  it('refuses a symlink escaping the scripts folder, running nothing', async () => {
    await expect(executor.run(request({ script: 'escape.sh' }))).rejects.toSatisfy(refusal(FishErrorCode.EXECUTOR_REFUSED));
    await expect(readFile(join(sandboxDir, 'pwned'))).rejects.toThrow();
  });

  it('runs a script whose digest is the one expected, and refuses one edited since, running nothing', async () => {
    await script('pinned.sh', 'echo pinned >> pinned.log');
    const shown = createHash('sha256')
      .update(await readFile(join(scriptsDir, 'pinned.sh')))
      .digest('hex');
    expect(await executor.run(request({ script: 'pinned.sh', expectedSha256: shown }))).toMatchObject({ exitCode: 0 });
    await script('pinned.sh', 'echo edited >> pinned.log');
    const error = await executor.run(request({ script: 'pinned.sh', expectedSha256: shown })).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(error, FishErrorCode.EXECUTOR_REFUSED)).toBe(true);
    expect((error as FishError).message).toMatch(/pinned\.sh" changed on disk since it was shown/);
    expect((error as FishError).details['scriptChanged']).toMatchObject({ expected: shown, actual: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await readFile(join(sandboxDir, 'pinned.log'), 'utf8')).toBe('pinned\n');
  });

  it('reports a script that cannot be started (not executable) as EXECUTOR_FAILED', async () => {
    await writeFile(join(scriptsDir, 'noexec.sh'), '#!/bin/sh\necho ran > noexec-ran\n');
    await chmod(join(scriptsDir, 'noexec.sh'), 0o644);
    await expect(executor.run(request({ script: 'noexec.sh' }))).rejects.toSatisfy(refusal(FishErrorCode.EXECUTOR_FAILED));
    await expect(readFile(join(sandboxDir, 'noexec-ran'))).rejects.toThrow();
  });

  it('refuses an unknown host and a missing script', async () => {
    await expect(executor.run(request({ host: 'leonard' }))).rejects.toSatisfy(refusal(FishErrorCode.TARGET_NOT_ALLOWED));
    await expect(executor.run(request({ script: 'missing.sh' }))).rejects.toSatisfy(refusal(FishErrorCode.CATALOG_SCRIPT_MISSING));
    expect(await executor.check!('leonard')).toMatchObject({ ok: false });
    expect(await executor.check!('penny')).toMatchObject({ ok: true });
  });
});
