import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import {
  ExecutionVerb,
  FishError,
  FishErrorCode,
  OUTPUT_LIMIT_BYTES,
  PATTERN_ID_PATTERN,
  SCRIPT_NAME_PATTERN,
  describeError,
  errorMessage,
  parseOptions,
  silentLogger,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  type Logger,
} from '@fish-sre/core';
import { SshPoolOptionsSchema } from './pool-options.js';
import type { SshCheckResult, SshPool } from './pool-api.js';
import { SshConnectionPool } from './ssh-pool.js';

const SCOPE = 'ssh';

export const SshExecutorOptionsSchema = SshPoolOptionsSchema.extend({
  /** After a timeout or abort: cancel, then give up on a clean exit after this long. @default 5000 */
  killGraceMs: z.number().int().min(0).default(5_000),
  /** Cap for stdout and for stderr, each. @default 65536 */
  outputLimitBytes: z.number().int().min(1).default(OUTPUT_LIMIT_BYTES),
  /** How long to wait for the exit status after KILL before closing the channel. @default 2000 */
  closeAfterKillMs: z.number().int().min(0).default(2_000),
});
export type SshExecutorOptions = Omit<z.input<typeof SshExecutorOptionsSchema>, 'targets'> & {
  /** Required unless `pool` is given. */
  targets?: z.input<typeof SshExecutorOptionsSchema>['targets'];
  logger?: Logger;
  /** Share a pool made by `createSshPool`; when given, its targets and connection settings are used. */
  pool?: SshPool;
};

export interface SshExecutor extends Executor {
  /** The pool the executor runs on (shared with other consumers when one was given). */
  readonly pool: SshPool;
  hosts(): string[];
  /** Connection check plus a probe that the key is bound to the wrapper. */
  check(host: string, signal?: AbortSignal): Promise<SshCheckResult>;
  close(): Promise<void>;
}

function refuse(message: string, details: Record<string, unknown> = {}): FishError {
  return new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage(SCOPE, message), details });
}

/** Checks a request without any I/O and returns the one command line the wrapper accepts. */
export function buildWrapperCommand(request: Pick<ExecutionRequest, 'verb' | 'patternId' | 'script' | 'expectedSha256'>): string {
  const verb = ExecutionVerb.safeParse(request.verb);
  if (!verb.success) throw refuse(`verb must be run, verify or rollback`, { field: 'verb' });
  if (typeof request.patternId !== 'string' || !PATTERN_ID_PATTERN.test(request.patternId)) {
    throw refuse(`pattern id is not a catalog id (expected ${PATTERN_ID_PATTERN.source})`, { field: 'patternId' });
  }
  if (typeof request.script !== 'string' || !SCRIPT_NAME_PATTERN.test(request.script)) {
    throw refuse(`script is not a catalog script name (expected ${SCRIPT_NAME_PATTERN.source})`, { field: 'script' });
  }
  if (request.expectedSha256 === undefined) return `${verb.data} ${request.patternId} ${request.script}`;
  if (typeof request.expectedSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(request.expectedSha256)) {
    throw refuse('expectedSha256 is not a sha256 digest (64 lower-case hex digits)', { field: 'expectedSha256' });
  }
  // The wrapper runs the script only when the installed file has this digest (what the proposal showed).
  return `${verb.data} ${request.patternId} ${request.script} ${request.expectedSha256}`;
}

/** The wrapper's refusal of a script whose installed digest is not the one shown: nothing ran. */
function scriptChanged(request: ExecutionRequest, result: { exitCode: number | null; stderr: string }): FishError | undefined {
  if (result.exitCode !== 126 || !result.stderr.includes('fish-wrapper: denied (script-changed)')) return undefined;
  const actual = /has sha256 ([0-9a-f]{64}|unreadable)/.exec(result.stderr)?.[1] ?? 'unknown';
  return refuse(`${request.script} on target "${request.host}" is not the script the proposal showed (installed sha256 ${actual}); nothing ran`, {
    scriptChanged: { expected: request.expectedSha256, actual },
    target: request.host,
  });
}

/**
 * Executor that runs catalog scripts on target hosts through the forced-command wrapper
 * (`apps/fish/deploy/fish-wrapper`), over one pooled SSH connection per target.
 *
 * Timeout / abort: OpenSSH refuses `signal` channel requests for forced-command sessions, so the
 * executor sends TERM (honoured by sshd for plain sessions) and then end-of-file on stdin, which
 * the wrapper treats as "cancel": it TERMs the script's process group and KILLs it after its grace
 * period. If no exit status arrives within `killGraceMs` + `closeAfterKillMs`, the channel is
 * closed (which the wrapper also sees as EOF).
 */
export function createSshExecutor(options: SshExecutorOptions): SshExecutor {
  const { logger: givenLogger, pool: givenPool, ...rest } = options;
  const parsed = parseOptions(SshExecutorOptionsSchema, givenPool === undefined ? rest : { targets: {}, ...rest }, SCOPE);
  const logger = (givenLogger ?? silentLogger).child({ plugin: 'exec-ssh' });
  const { targets, keepAliveIntervalMs, idleCloseMs, connectTimeoutMs } = parsed;
  const internal = givenPool === undefined ? new SshConnectionPool({ targets, keepAliveIntervalMs, idleCloseMs, connectTimeoutMs, logger }) : asInternal(givenPool);
  const pool: SshPool = internal;

  async function run(request: ExecutionRequest): Promise<ExecutionResult> {
    const started = performance.now();
    if (!pool.has(request.host)) {
      throw new FishError({
        code: FishErrorCode.TARGET_NOT_ALLOWED,
        message: errorMessage(SCOPE, `host "${String(request.host).slice(0, 80)}" is not a configured target (configured: ${pool.hosts().join(', ') || 'none'})`),
      });
    }
    const command = buildWrapperCommand(request);
    if (typeof request.timeoutMs !== 'number' || !Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) {
      throw refuse('timeoutMs must be a positive number of milliseconds', { field: 'timeoutMs' });
    }
    if (request.signal?.aborted) throw new FishError({ code: FishErrorCode.EXECUTOR_FAILED, message: errorMessage(SCOPE, 'aborted before the command was sent'), details: { kind: 'aborted' } });

    const result = await internal.run(
      request.host,
      { command },
      {
        timeoutMs: request.timeoutMs,
        outputLimitBytes: parsed.outputLimitBytes,
        killGraceMs: parsed.killGraceMs,
        closeAfterKillMs: parsed.closeAfterKillMs,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      },
    );
    const durationMs = Math.round(performance.now() - started);
    if (result.cancelled) {
      throw new FishError({
        code: FishErrorCode.EXECUTOR_FAILED,
        message: errorMessage(SCOPE, `aborted: ${command} on target "${request.host}" was cancelled after ${durationMs} ms`),
        details: { kind: 'aborted', target: request.host, exitCode: result.exitCode, durationMs },
      });
    }
    const changed = scriptChanged(request, result);
    if (changed) throw changed;
    return { exitCode: result.exitCode, signal: result.signal, stdout: result.stdout, stderr: result.stderr, durationMs, timedOut: result.timedOut };
  }

  /**
   * Connection check plus a probe of the forced command: `true` is not a wrapper command, so the
   * wrapper must deny it (126). If it runs (0), the key is not restricted to the wrapper.
   */
  async function check(host: string, signal?: AbortSignal): Promise<SshCheckResult> {
    const basic = await pool.check(host, signal);
    if (!basic.ok) return basic;
    let answer: { code: number | null; stderr: string };
    try {
      answer = await probe(host, signal);
    } catch (error) {
      return { ok: false, detail: `connected, but the wrapper probe failed: ${describeError(error)}` };
    }
    if (answer.code === 126 && answer.stderr.includes('fish-wrapper: denied')) {
      return { ok: true, detail: `${basic.detail}; fish-wrapper is the forced command (probe denied as expected)` };
    }
    if (answer.code === 0) {
      return { ok: false, detail: `${basic.detail}, but the key is NOT restricted to fish-wrapper: a plain command ran (install the line from authorized-keys-line.sh)` };
    }
    const firstLine = answer.stderr.split('\n')[0]?.slice(0, 200) ?? '';
    return {
      ok: false,
      detail: `${basic.detail}, but the wrapper probe got exit ${String(answer.code)}${firstLine === '' ? '' : `: ${firstLine}`} (is fish-wrapper installed and allowed in sudoers?)`,
    };
  }

  async function probe(host: string, signal?: AbortSignal): Promise<{ code: number | null; stderr: string }> {
    const result = await internal.run(
      host,
      { command: 'true' },
      { timeoutMs: parsed.connectTimeoutMs, outputLimitBytes: 4096, killGraceMs: 0, closeAfterKillMs: 0, ...(signal === undefined ? {} : { signal }) },
    );
    return { code: result.exitCode, stderr: result.stderr };
  }

  return {
    specificationVersion: 'v1',
    name: 'ssh',
    pool,
    run,
    hosts: () => pool.hosts(),
    check,
    close: () => (givenPool === undefined ? pool.close() : Promise.resolve()),
  };
}

function asInternal(pool: SshPool): SshConnectionPool {
  if (pool instanceof SshConnectionPool) return pool;
  throw new FishError({ code: FishErrorCode.PLUGIN_OPTIONS_INVALID, message: errorMessage(SCOPE, 'pool must be made by createSshPool from this package') });
}
