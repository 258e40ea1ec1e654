import { readFile } from 'node:fs/promises';
import { BoundedOutput, FishError, FishErrorCode, errorMessage } from '@fish-sre/core';
import type { SshConnectionPool } from '@fish-sre/exec-ssh';
import type { ClientChannel } from 'ssh2';

/**
 * Running one command over SSH for breakglass, on top of @fish-sre/exec-ssh's connection pool
 * (host-key pinning or trust-on-first-use, connect timeouts, one retry before the channel opens).
 * This file adds what breakglass needs per command: argv quoting, a timeout that sends TERM then
 * closes the channel, and capped output.
 */

export interface SshExecResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

export interface SshExecOptions {
  timeoutMs: number;
  outputLimitBytes: number;
  signal?: AbortSignal;
  /** Grace between TERM and closing the channel on a timeout or cancel. @default 2000 */
  killGraceMs?: number;
}

/** POSIX single-quote quoting: `it's` -> `'it'\''s'`. The remote shell sees only literal words. NUL is refused. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('breakglass', 'empty argv') });
  return argv
    .map((word) => {
      if (word.includes('\0')) throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('breakglass', 'argv contains a NUL byte') });
      return `'${word.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}

export async function loadPrivateKey(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('breakglass', `cannot read SSH key file ${path}`), cause });
  }
}

/**
 * Runs `command` on the pooled connection `target`. Connection and host-key problems throw the
 * pool's FishErrors; a remote non-zero exit, a timeout or a cancel is a result.
 */
export async function sshExec(pool: SshConnectionPool, target: string, command: string, options: SshExecOptions): Promise<SshExecResult> {
  const started = Date.now();
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const combined = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const stdout = new BoundedOutput(options.outputLimitBytes);
  const stderr = new BoundedOutput(options.outputLimitBytes);
  let exitCode: number | null = null;
  let exitSignal: string | null = null;
  let closed = false;
  let onClosed: (() => void) | undefined;
  // Listeners go on in `onChannel`, synchronously with the exec confirmation: ssh2 can deliver a
  // fast command's output and exit status in the same read, before an awaiting caller resumes.
  const attach = (channel: ClientChannel) => {
    channel.on('data', (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    channel.on('exit', (code: number | null, signalName?: string) => {
      exitCode = typeof code === 'number' ? code : null;
      exitSignal = signalName ?? null;
    });
    channel.on('close', () => {
      closed = true;
      onClosed?.();
    });
  };
  let channel: ClientChannel;
  try {
    channel = await pool.exec(target, command, { signal: combined, onChannel: attach });
  } catch (error) {
    if (combined.aborted && !FishError.isInstance(error)) {
      throw new FishError({ code: FishErrorCode.EXECUTOR_CONNECTION, message: errorMessage('breakglass', `ssh to "${target}" ${timeout.aborted ? 'timed out' : 'was cancelled'} before the command started`), cause: error, isRetryable: true });
    }
    throw error;
  }
  return new Promise<SshExecResult>((resolve) => {
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      combined.removeEventListener('abort', stop);
      resolve({ exitCode, signal: exitSignal, stdout: stdout.toString(), stderr: stderr.toString(), timedOut: timeout.aborted, durationMs: Date.now() - started });
    };
    function stop() {
      try {
        channel.signal('TERM');
      } catch {
        // the channel may already be closing
      }
      killTimer = setTimeout(() => {
        channel.close();
        // If the server never confirms the close, do not wait for it forever.
        setTimeout(finish, 500).unref();
      }, options.killGraceMs ?? 2000);
    }
    if (closed) return finish();
    onClosed = finish;
    if (combined.aborted) stop();
    else combined.addEventListener('abort', stop, { once: true });
  });
}
