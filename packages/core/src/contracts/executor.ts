import { z } from 'zod';

/** The only three things fish ever asks a host to do. */
export const ExecutionVerb = z.enum(['run', 'verify', 'rollback']);
export type ExecutionVerb = z.infer<typeof ExecutionVerb>;

/** Pattern ids and script names as the catalog and the target-host wrapper accept them. */
export const PATTERN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/;
export const SCRIPT_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}\.sh$/;

export interface ExecutionRequest {
  /** A configured target name; the executor refuses any other. */
  host: string;
  verb: ExecutionVerb;
  /** A catalog pattern id (matches PATTERN_ID_PATTERN). */
  patternId: string;
  /** A catalog script file name (matches SCRIPT_NAME_PATTERN), never a path. */
  script: string;
  /** After this: TERM, then KILL after the executor's grace period; `timedOut` is true. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ExecutionResult {
  /** Exit code, or null when the process was killed by a signal. */
  exitCode: number | null;
  /** The signal that ended it, if any (`TERM`, `KILL`). */
  signal?: string | null;
  /** At most 64 KiB each; a marker line says how much was cut. */
  stdout: string;
  stderr: string;
  durationMs: number;
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
  readonly specificationVersion: 'v1';
  readonly name: string;
  run(request: ExecutionRequest): Promise<ExecutionResult>;
  /** Which hosts this executor can reach (configured targets). */
  hosts?(): string[];
  check?(host: string, signal?: AbortSignal): Promise<{ ok: boolean; detail: string }>;
  close?(): Promise<void>;
}
