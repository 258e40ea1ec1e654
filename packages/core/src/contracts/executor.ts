import { z } from 'zod';

/** The only three things fish ever asks a host to do. */
export const ExecutionVerb = z.enum(['run', 'verify', 'rollback']);
export type ExecutionVerb = z.infer<typeof ExecutionVerb>;

/** Pattern ids and script names as the catalog and the target-host wrapper accept them. */
export const PATTERN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/;
export const SCRIPT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}\.sh$/;

/** One call to a host, built by core's execution stage from the catalog and the config only. */
export interface ExecutionRequest {
  /** A configured target name; the executor refuses any other. */
  host: string;
  /** `run` the fix, `verify` it worked, or `rollback` after a failed verify; the script is the pattern's script for that verb. */
  verb: ExecutionVerb;
  /** A catalog pattern id (matches PATTERN_ID_PATTERN). */
  patternId: string;
  /** A catalog script file name (matches SCRIPT_NAME_PATTERN), never a path. */
  script: string;
  /** After this: TERM, then KILL after the executor's grace period; `timedOut` is true. */
  timeoutMs: number;
  /** Aborted when the engine stops past its grace period: end the process as on timeout (TERM, then KILL). */
  signal?: AbortSignal;
  /**
   * sha256 (hex) of the script as the proposal showed it (its pin). An executor that runs a file it
   * can read refuses, right before starting it, when the file's digest differs: EXECUTOR_REFUSED
   * with `details.scriptChanged: { expected, actual }`, and nothing runs.
   */
  expectedSha256?: string;
}

/** What happened on the host. A script that ran and failed is a result (exit code), not a thrown error. */
export interface ExecutionResult {
  /** Exit code, or null when the process was killed by a signal. */
  exitCode: number | null;
  /** The signal that ended it, if any (`TERM`, `KILL`). */
  signal?: string | null;
  /** At most 64 KiB each; a marker line says how much was cut. */
  stdout: string;
  /** Same limit and marker as `stdout`. Redacted by core before it is stored or shown. */
  stderr: string;
  /** Wall time from start to exit, in milliseconds. */
  durationMs: number;
  /** True when `timeoutMs` elapsed and the executor ended the process. */
  timedOut: boolean;
}

/** Output cap for stdout and stderr, in bytes. */
export const OUTPUT_LIMIT_BYTES = 64 * 1024;

/**
 * Runs one catalog script on one host. Core serialises calls per host with a mutex and never
 * builds the request from log or LLM text: host, pattern id and script come from the catalog
 * and the config.
 */
export interface Executor {
  /** Contract version; the registry refuses a descriptor or instance with one it does not know. */
  readonly specificationVersion: 'v1';
  /** Instance name from the config (`executor.name`, the type when not given), used in logs and errors. */
  readonly name: string;
  /**
   * Runs `request.script` of `request.patternId` on `request.host`, as an argv (never a shell
   * string), and resolves with its exit code and bounded output. Called by the engine's execution
   * stage only after an approval (or earned auto-exec) is recorded, one call per host at a time.
   * Must not retry by itself: a fix may not be idempotent.
   * @throws FishError `TARGET_NOT_ALLOWED` for a host that is not configured, `EXECUTOR_REFUSED`
   * for a pattern id or script name that does not match its pattern, `EXECUTOR_CONNECTION` /
   * `EXECUTOR_HOST_KEY` when the host cannot be reached or is not the one expected (the script did
   * not start), `EXECUTOR_FAILED` for anything else.
   */
  run(request: ExecutionRequest): Promise<ExecutionResult>;
  /** Which hosts this executor can reach (configured targets). Called by the engine at start, when `targets` is not given. */
  hosts?(): string[];
  /**
   * Reaches `host` without running anything (connect, authenticate, check the script folder) and
   * says whether a fix could run there. Called by `fish-sre doctor`; never throws, reports in `detail`.
   */
  check?(host: string, signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  /** Closes connections and ends running processes. Called once by the app on shutdown (not by `engine.stop()`). */
  close?(): Promise<void>;
}
