import { performance } from 'node:perf_hooks';
import type { ClientChannel } from 'ssh2';
import { BoundedOutput, FishError, FishErrorCode, OUTPUT_LIMIT_BYTES, errorMessage, silentLogger, type Logger } from '@fish-sre/core';
import type { SshRunOptions, SshRunResult } from './pool-api.js';

const SCOPE = 'ssh';

/** How long to wait for the server to confirm a channel close before giving up on it. */
const CLOSE_CONFIRM_MS = 1000;

/** The part of the pool this needs: open a channel and attach listeners synchronously. */
export type OpenChannel = (command: string, options: { signal?: AbortSignal; onChannel: (channel: ClientChannel) => void }) => Promise<ClientChannel>;

/**
 * The one place where a remote command is run, timed out and cancelled (the executor and every
 * other consumer go through it). Cancelling sends TERM (sshd honours it for plain sessions and
 * refuses it for forced commands), then end-of-file on stdin (what a forced-command wrapper reads
 * as "cancel"), then KILL after `killGraceMs`, then closes the channel after `closeAfterKillMs`;
 * if the server never confirms the close, the result is returned anyway.
 */
export async function runOnChannel(open: OpenChannel, target: string, command: string, options: SshRunOptions & { logger?: Logger; label?: string }): Promise<SshRunResult> {
  if (typeof options.timeoutMs !== 'number' || !Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
    throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage(SCOPE, 'timeoutMs must be a positive number of milliseconds'), details: { field: 'timeoutMs' } });
  }
  const logger = options.logger ?? silentLogger;
  const label = options.label ?? 'the command';
  const started = performance.now();
  const limit = options.outputLimitBytes ?? OUTPUT_LIMIT_BYTES;
  const killGraceMs = options.killGraceMs ?? 5_000;
  const closeAfterKillMs = options.closeAfterKillMs ?? 2_000;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), options.timeoutMs);
  const combined = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
  const stdout = new BoundedOutput(limit);
  const stderr = new BoundedOutput(limit);
  const exit: { exited: boolean; code: number | null; signal: string | null } = { exited: false, code: null, signal: null };
  const recordExit = (code: unknown, signalName?: unknown) => {
    if (exit.exited) return;
    if (typeof code === 'number') {
      exit.exited = true;
      exit.code = code;
    } else if (typeof signalName === 'string') {
      exit.exited = true;
      exit.signal = signalName.replace(/^SIG/, '');
    }
  };
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });

  let channel: ClientChannel;
  try {
    channel = await open(command, {
      signal: combined,
      // Listeners go on synchronously: a fast command's output and exit status can arrive in the
      // same read as the exec confirmation, before an awaiting caller resumes.
      onChannel: (opened) => {
        opened.on('data', (chunk: Buffer) => stdout.push(chunk));
        opened.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        opened.on('exit', recordExit);
        opened.once('close', (code?: unknown, signalName?: unknown) => {
          recordExit(code, signalName);
          markClosed();
        });
      },
    });
  } catch (error) {
    clearTimeout(timer);
    if (timeout.signal.aborted && !options.signal?.aborted) {
      throw new FishError({
        code: FishErrorCode.EXECUTOR_CONNECTION,
        message: errorMessage(SCOPE, `no channel to target "${target}" within ${options.timeoutMs} ms; ${label} was not started`),
        cause: error,
        isRetryable: true,
        details: { kind: 'timeout', target, mayHaveStarted: false },
      });
    }
    throw error;
  }

  return new Promise<SshRunResult>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let cancelling = false;
    let settled = false;

    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const pending of timers) clearTimeout(pending);
      combined.removeEventListener('abort', cancel);
      const durationMs = Math.round(performance.now() - started);
      if (!exit.exited && !cancelling) {
        reject(
          new FishError({
            code: FishErrorCode.EXECUTOR_CONNECTION,
            message: errorMessage(SCOPE, `connection to target "${target}" was lost while ${label} was running; not retried (it may have run partly)`),
            isRetryable: false,
            details: { kind: 'connection-lost', target, mayHaveStarted: true, durationMs },
          }),
        );
        return;
      }
      resolve({
        exitCode: exit.code,
        signal: exit.signal,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
        timedOut: timeout.signal.aborted,
        cancelled: options.signal?.aborted === true && !timeout.signal.aborted,
        durationMs,
      });
    };

    function cancel() {
      if (cancelling) return;
      cancelling = true;
      logger.warn(`cancelling remote command (${timeout.signal.aborted ? 'timeout' : 'abort'})`, { target, command: label });
      try {
        channel.signal('TERM');
      } catch {
        // the channel may already be closing
      }
      channel.end(); // end-of-file: a wrapper TERMs its process group, KILLs after its own grace
      timers.push(
        setTimeout(() => {
          try {
            channel.signal('KILL');
          } catch {
            // not writable after end-of-file: the wrapper's own KILL applies
          }
          timers.push(
            setTimeout(() => {
              channel.close();
              timers.push(setTimeout(finish, CLOSE_CONFIRM_MS));
            }, closeAfterKillMs),
          );
        }, killGraceMs),
      );
    }

    void closed.then(finish);
    if (combined.aborted) cancel();
    else combined.addEventListener('abort', cancel, { once: true });
  });
}
