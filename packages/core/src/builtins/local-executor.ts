import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, sep } from 'node:path';
import { z } from 'zod';
import type { ExecutionRequest, ExecutionResult, Executor } from '../contracts/executor.js';
import { ExecutionVerb, PATTERN_ID_PATTERN, SCRIPT_NAME_PATTERN } from '../contracts/executor.js';
import { FishError, FishErrorCode, errorMessage } from '../errors.js';
import { BoundedOutput } from '../util/truncate.js';
import { parseOptions } from '../plugin-utils/options.js';

export const LocalExecutorOptionsSchema = z.strictObject({
  /** Folder holding the catalog scripts (usually `<catalog>/scripts`). */
  scriptsDir: z.string().min(1),
  /** Working directory the scripts run in: the sandbox. */
  sandboxDir: z.string().min(1),
  /** Host names this executor accepts (it runs everything locally). @default ['localhost'] */
  hosts: z.array(z.string().min(1)).min(1).default(['localhost']),
  /** Folders put first on PATH (e.g. a sandbox `bin/` with stand-ins for docker). */
  pathPrepend: z.array(z.string()).default([]),
  /** Extra environment variables for the scripts. */
  env: z.record(z.string(), z.string()).default({}),
  /** Time between TERM and KILL after a timeout. @default 5000 */
  killGraceMs: z.number().int().nonnegative().default(5000),
  /** @default 65536 */
  outputLimitBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024),
});
export type LocalExecutorOptions = z.input<typeof LocalExecutorOptionsSchema>;

/**
 * Runs a catalog script on this machine, in a sandbox folder: the demo's executor and the
 * reference implementation of the Executor contract. The script is found by name inside the
 * scripts folder only (its real path must stay inside it), spawned with an argv list (`[verb]`),
 * never a shell string, in its own process group so a timeout kills everything it started.
 */
export function createLocalExecutor(input: LocalExecutorOptions): Executor {
  const options = parseOptions(LocalExecutorOptionsSchema, input, 'local');
  const hosts = new Set(options.hosts);

  async function resolveScript(script: string): Promise<string> {
    const root = await realpath(options.scriptsDir);
    let resolved: string;
    try {
      resolved = await realpath(join(root, script));
    } catch {
      throw new FishError({ code: FishErrorCode.CATALOG_SCRIPT_MISSING, message: errorMessage('local-executor', `script "${script}" not found in ${options.scriptsDir}`) });
    }
    if (!resolved.startsWith(root + sep)) {
      throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('local-executor', `script "${script}" resolves outside the scripts folder`) });
    }
    return resolved;
  }

  return {
    specificationVersion: 'v1',
    name: 'local',
    hosts: () => [...hosts],
    async run(request: ExecutionRequest): Promise<ExecutionResult> {
      if (!ExecutionVerb.safeParse(request.verb).success || !PATTERN_ID_PATTERN.test(request.patternId) || !SCRIPT_NAME_PATTERN.test(request.script)) {
        throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('local-executor', `refused request: verb, pattern id or script name is not of the allowed form`) });
      }
      if (!hosts.has(request.host)) {
        throw new FishError({
          code: FishErrorCode.TARGET_NOT_ALLOWED,
          message: errorMessage('local-executor', `host "${request.host}" is not one of this executor's hosts (${[...hosts].join(', ')})`),
        });
      }
      const scriptPath = await resolveScript(request.script);
      // The file as it is now must be the one the proposal showed (an edit without a catalog reload).
      if (request.expectedSha256 !== undefined) {
        const actual = createHash('sha256')
          .update(await readFile(scriptPath))
          .digest('hex');
        if (actual !== request.expectedSha256) {
          throw new FishError({
            code: FishErrorCode.EXECUTOR_REFUSED,
            message: errorMessage(
              'local-executor',
              `script "${request.script}" changed on disk since it was shown (sha256 ${request.expectedSha256.slice(0, 12)} -> ${actual.slice(0, 12)}); nothing was run`,
            ),
            details: { scriptChanged: { expected: request.expectedSha256, actual } },
          });
        }
      }
      if (request.signal?.aborted) {
        throw new FishError({ code: FishErrorCode.EXECUTOR_FAILED, message: errorMessage('local-executor', 'the request was aborted before it started; nothing was run'), details: { aborted: true } });
      }
      const started = performance.now();
      const stdout = new BoundedOutput(options.outputLimitBytes);
      const stderr = new BoundedOutput(options.outputLimitBytes);
      const child = spawn(scriptPath, [request.verb], {
        cwd: options.sandboxDir,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: [...options.pathPrepend, process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter),
          HOME: options.sandboxDir,
          LANG: 'C.UTF-8',
          FISH_VERB: request.verb,
          FISH_PATTERN_ID: request.patternId,
          ...options.env,
        },
      });
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;
      const terminate = () => {
        // Signal the whole process group even when the script itself has already exited: a child
        // it left behind holding stdout/stderr open would otherwise keep this run waiting forever
        // (the 'close' event needs every copy of the pipes closed). Runs only before 'close'.
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          /* already gone */
        }
        killTimer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }, options.killGraceMs);
      };
      const timeout = setTimeout(() => {
        timedOut = true;
        terminate();
      }, request.timeoutMs);
      const onAbort = () => terminate();
      request.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
          child.once('error', reject);
          child.once('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
        });
        return {
          exitCode: code,
          signal: signal ? signal.replace(/^SIG/, '') : null,
          stdout: stdout.toString(),
          stderr: stderr.toString(),
          durationMs: performance.now() - started,
          timedOut,
        };
      } catch (error) {
        throw new FishError({ code: FishErrorCode.EXECUTOR_FAILED, message: errorMessage('local-executor', `could not start ${request.script}: ${(error as Error).message}`), cause: error });
      } finally {
        clearTimeout(timeout);
        if (killTimer) clearTimeout(killTimer);
        request.signal?.removeEventListener('abort', onAbort);
      }
    },
    async check(host) {
      if (!hosts.has(host)) return { ok: false, detail: `host "${host}" is not configured for the local executor` };
      // A folder that does not exist fails the first fix at 3 a.m.: say so now.
      for (const [option, folder] of [
        ['sandboxDir', options.sandboxDir],
        ['scriptsDir', options.scriptsDir],
      ] as const) {
        const found = await stat(folder).then(
          (entry) => entry.isDirectory(),
          () => false,
        );
        if (!found) return { ok: false, detail: `${option} ${folder} is not an existing folder${isAbsolute(folder) ? '' : ` (relative to the working directory ${process.cwd()})`}` };
      }
      return { ok: true, detail: `runs scripts locally in ${options.sandboxDir}` };
    },
  };
}
