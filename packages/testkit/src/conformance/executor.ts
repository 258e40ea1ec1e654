import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, type ExecutionRequest, type ExecutionResult, type Executor } from '@fish-sre/core';
import { executionRequest, processAlive, waitFor } from '../helpers.js';

/** One catalog entry the suite needs installed: pattern id, script file name, POSIX sh body. */
export interface ConformanceScript {
  patternId: string;
  script: string;
  /** Full file content, starting with `#!/bin/sh`. Install it executable. */
  content: string;
}

export type ConformanceScripts = ConformanceScript[];

export interface ExecutorConformanceOptions {
  /** Suite title, e.g. `ssh executor`. */
  name: string;
  /**
   * Called once before the tests: install these scripts as the catalog the executor may run
   * (allow-list the pattern ids and script names), and return the executor and a host it accepts.
   * The scripts write into a local temporary folder, so the executor's target must share this
   * machine's filesystem (loopback sshd, local executor).
   */
  setup(scripts: ConformanceScripts): Promise<{ executor: Executor; host: string; cleanup?: () => Promise<void> }>;
  /** Upper bound of how long after TERM a script that ignores it survives (executor + remote grace). @default 10000 */
  killGraceMs?: number;
  /** Timeout used for the timeout tests. @default 1000 */
  timeoutMs?: number;
}

/**
 * The behaviour every fish-sre Executor must have. Register it inside a test file:
 * `testExecutor({ name: 'ssh executor', setup: async (scripts) => ({ executor, host }) })`.
 */
export function testExecutor(options: ExecutorConformanceOptions): void {
  const killGraceMs = options.killGraceMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 1_000;

  describe(`Executor conformance: ${options.name}`, () => {
    const state = mkdtempSync(join(tmpdir(), 'fish-exec-conf-'));
    const runs = join(state, 'runs.log');
    const record = (name: string) => `echo "${name} $1" >> '${runs}'\n`;
    const scripts: ConformanceScripts = [
      { patternId: 'conf-ok', script: 'conf-ok.sh', content: `#!/bin/sh\n${record('ok')}echo "out:$1"\necho "err:$1" >&2\nexit 0\n` },
      { patternId: 'conf-fail', script: 'conf-fail.sh', content: `#!/bin/sh\n${record('fail')}echo "about to fail"\nexit 7\n` },
      {
        patternId: 'conf-big',
        script: 'conf-big.sh',
        content: `#!/bin/sh\n${record('big')}head -c 204800 /dev/zero | tr '\\0' 'a'\nhead -c 100000 /dev/zero | tr '\\0' 'b' >&2\nexit 0\n`,
      },
      {
        patternId: 'conf-stubborn',
        script: 'conf-stubborn.sh',
        content: `#!/bin/sh\n${record('stubborn')}trap '' TERM\necho $$ > '${state}/stubborn.pid'\nwhile :; do sleep 0.2; done\n`,
      },
      {
        patternId: 'conf-sleep',
        script: 'conf-sleep.sh',
        content: `#!/bin/sh\n${record('sleep')}echo $$ > '${state}/sleep.pid'\nsleep 30\n`,
      },
    ];
    let executor: Executor;
    let host: string;
    let cleanup: (() => Promise<void>) | undefined;
    const request = (patternId: string, script: string, extra: Partial<ExecutionRequest> = {}) => executionRequest(host, patternId, script, extra);
    const runLines = () => (existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean) : []);

    beforeAll(async () => {
      const made = await options.setup(scripts);
      executor = made.executor;
      host = made.host;
      cleanup = made.cleanup;
    });

    afterAll(async () => {
      await executor?.close?.();
      await cleanup?.();
      for (const name of ['stubborn.pid', 'sleep.pid']) {
        const file = join(state, name);
        if (existsSync(file)) {
          const pid = Number(readFileSync(file, 'utf8').trim());
          if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
      rmSync(state, { recursive: true, force: true });
    });

    it('declares the v1 contract', () => {
      expect(executor.specificationVersion).toBe('v1');
      expect(typeof executor.name).toBe('string');
      if (executor.hosts !== undefined) expect(executor.hosts()).toContain(host);
    });

    it('runs a script with the verb as $1 and returns the result shape', async () => {
      const result = await executor.run(request('conf-ok', 'conf-ok.sh', { verb: 'verify' }));
      expect(result.exitCode).toBe(0);
      expect(result.timedOut).toBe(false);
      expect(result.stdout).toBe('out:verify\n');
      expect(result.stderr).toContain('err:verify\n');
      expect(typeof result.durationMs).toBe('number');
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
      expect(runLines()).toContain('ok verify');
    });

    it('passes each verb through', async () => {
      for (const verb of ['run', 'verify', 'rollback'] as const) {
        const result = await executor.run(request('conf-ok', 'conf-ok.sh', { verb }));
        expect(result.stdout).toBe(`out:${verb}\n`);
      }
    });

    it('reports a failing exit code with its output', async () => {
      const result = await executor.run(request('conf-fail', 'conf-fail.sh'));
      expect(result.exitCode).toBe(7);
      expect(result.timedOut).toBe(false);
      expect(result.stdout).toContain('about to fail');
    });

    it('caps stdout and stderr and says how much was cut', async () => {
      const result: ExecutionResult = await executor.run(request('conf-big', 'conf-big.sh'));
      expect(result.exitCode).toBe(0);
      expect(result.stdout.startsWith('a'.repeat(1000))).toBe(true);
      expect(result.stdout).toMatch(/\[fish-sre: output truncated, 139264 more bytes not kept\]$/);
      expect(result.stderr).toMatch(/\[fish-sre: output truncated, 34464 more bytes not kept\]$/);
      expect(Buffer.byteLength(result.stdout)).toBeLessThan(64 * 1024 + 100);
    });

    it('times out a script that ignores TERM, reports timedOut, and the process is gone', async () => {
      const started = Date.now();
      const result = await executor.run(request('conf-stubborn', 'conf-stubborn.sh', { timeoutMs }));
      expect(result.timedOut).toBe(true);
      expect(result.exitCode === 0).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(timeoutMs - 50);
      const pid = Number(readFileSync(join(state, 'stubborn.pid'), 'utf8').trim());
      expect(pid).toBeGreaterThan(1);
      expect(await waitFor(() => !processAlive(pid), killGraceMs)).toBe(true);
    }, 60_000);

    it('cancels on abort: the run settles and the process is gone', async () => {
      const controller = new AbortController();
      const pending = executor.run(request('conf-sleep', 'conf-sleep.sh', { signal: controller.signal })).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      const pidFile = join(state, 'sleep.pid');
      expect(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 10_000)).toBe(true);
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      controller.abort();
      const settled = await pending;
      if ('result' in settled) expect(settled.result.exitCode === 0).toBe(false);
      expect(await waitFor(() => !processAlive(pid), killGraceMs)).toBe(true);
    }, 60_000);

    it('refuses an already aborted request without running anything', async () => {
      const before = runLines().length;
      const controller = new AbortController();
      controller.abort();
      await expect(executor.run(request('conf-ok', 'conf-ok.sh', { signal: controller.signal }))).rejects.toThrow();
      expect(runLines().length).toBe(before);
    });

    const invalid: Array<[string, Partial<ExecutionRequest>]> = [
      ['pattern id with a semicolon', { patternId: 'conf-ok;id' }],
      ['upper-case pattern id', { patternId: 'Conf-ok' }],
      ['empty pattern id', { patternId: '' }],
      ['pattern id with a space', { patternId: 'conf-ok conf-ok' }],
      ['script path traversal', { script: '../conf-ok.sh' }],
      ['script with a slash', { script: 'x/conf-ok.sh' }],
      ['script without .sh', { script: 'conf-ok' }],
      ['script with $()', { script: '$(id).sh' }],
      ['script with a newline', { script: 'conf-ok.sh\nid' }],
      ['unknown verb', { verb: 'exec' as ExecutionRequest['verb'] }],
    ];
    for (const [label, change] of invalid) {
      it(`refuses ${label} with EXECUTOR_REFUSED and runs nothing`, async () => {
        const before = runLines().length;
        const error = await executor.run(request('conf-ok', 'conf-ok.sh', change)).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(FishError.hasCode(error, FishErrorCode.EXECUTOR_REFUSED)).toBe(true);
        expect(runLines().length).toBe(before);
      });
    }

    it('refuses a host that is not a configured target', async () => {
      const error = await executor.run(request('conf-ok', 'conf-ok.sh', { host: 'not-a-configured-host' })).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(FishError.hasCode(error, FishErrorCode.TARGET_NOT_ALLOWED)).toBe(true);
    });
  });
}
