import type { HostKeyPolicy, SshFailureKind } from './pool-options.js';

/**
 * What to run on a target. `argv` is quoted word by word (POSIX single quotes), so the remote
 * shell sees only literal words; `command` is sent as it is, for a forced command that reads
 * `SSH_ORIGINAL_COMMAND` (a wrapper verb), where the caller has already checked every word.
 */
export type SshCommand = { argv: readonly string[] } | { command: string };

export interface SshRunOptions {
  /** After this, the command is cancelled (see `SshPool.run`) and the result says `timedOut`. */
  timeoutMs: number;
  /** Cancels while connecting or while the command runs; the result then says `cancelled`. */
  signal?: AbortSignal;
  /** Cap for stdout and for stderr, each. @default 65536 */
  outputLimitBytes?: number;
  /** After TERM and end-of-file, how long before KILL. @default 5000 */
  killGraceMs?: number;
  /** After KILL, how long before the channel is closed regardless. @default 2000 */
  closeAfterKillMs?: number;
}

export interface SshRunResult {
  /** The remote exit status; null when the command was killed by a signal or never reported one. */
  exitCode: number | null;
  /** The signal name without `SIG` when the remote command died of one. */
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True when the run was cancelled because `timeoutMs` elapsed. */
  timedOut: boolean;
  /** True when the caller's signal cancelled the run. */
  cancelled: boolean;
  durationMs: number;
}

export interface SshCheckResult {
  ok: boolean;
  /** Plain words: what worked, or what is wrong and what to check. */
  detail: string;
  kind?: SshFailureKind;
  /** The host key the server presented, when the failure is about it. */
  fingerprint?: string;
}

/**
 * One pooled SSH connection per configured target (opened on first use, kept alive, reopened when
 * lost, closed when idle), with host keys verified on every connection. This is the public face
 * of the pool: it never exposes ssh2's types, so consumers type-check without them.
 */
export interface SshPool {
  /** The configured target names. */
  hosts(): string[];
  has(name: string): boolean;
  /** Whether a live pooled connection to `name` exists right now. */
  isConnected(name: string): boolean;
  /** How many connections were opened per target (tests, `doctor`). */
  readonly connectCount: ReadonlyMap<string, number>;
  /**
   * Runs one command on `name`. Connection and host-key problems throw FishErrors (with
   * `details.kind`); a non-zero exit, a timeout or a cancel is a result. On timeout or cancel the
   * pool sends TERM (honoured by sshd for plain sessions) and end-of-file on stdin (which a
   * forced-command wrapper treats as "cancel"), then KILL after `killGraceMs`, then closes the
   * channel after `closeAfterKillMs`. A connection lost while the command ran throws
   * `FISH_ERR_EXECUTOR_CONNECTION` with `details.mayHaveStarted: true` and is never retried.
   */
  run(name: string, command: SshCommand, options: SshRunOptions): Promise<SshRunResult>;
  /**
   * Opens a separate, unpooled connection and reports what is wrong in plain words: unreachable,
   * timeout, authentication refused, host key mismatch/unknown (with the presented fingerprint).
   */
  check(name: string, signal?: AbortSignal): Promise<SshCheckResult>;
  /** The host-key policy currently applied to `name`. */
  hostKeyPolicy(name: string): HostKeyPolicy;
  /**
   * Replaces the host-key policy of `name` (an operator re-pinning a rebuilt host after checking
   * its new fingerprint). A live connection to `name` is closed so the next run verifies again.
   */
  setHostKeyPolicy(name: string, policy: HostKeyPolicy): void;
  /** Closes every pooled connection; the pool refuses new work afterwards. */
  close(): Promise<void>;
}
