import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BoundedOutput, FishError, FishErrorCode, errorMessage, type Logger, silentLogger } from '@fish-sre/core';
import { Client } from 'ssh2';

/**
 * The smallest SSH exec that breakglass needs: one connection per command (a breakglass session
 * runs a handful of commands; a pool would only keep a connection to a host that may reboot).
 * Argv is quoted into single-quoted words, so the remote shell never interprets a character of it.
 */

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key (OpenSSH or PEM format). */
  privateKey: Buffer | string;
  /**
   * SHA-256 of the host key (`SHA256:base64` as ssh-keygen prints it, or hex). When unset any host
   * key is accepted and its fingerprint logged: a rebuilt VM gets a new key, and a breakglass that
   * locks itself out at that moment is worse than one on a trusted LAN that does not pin.
   */
  hostKeySha256?: string;
  /** @default 10000 */
  connectTimeoutMs?: number;
}

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
  logger?: Logger;
  /** Grace between TERM and closing the channel on a timeout. @default 2000 */
  killGraceMs?: number;
}

/** POSIX single-quote quoting: `it's` -> `'it'\''s'`. NUL is refused (it cannot cross exec). */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('breakglass', 'empty argv') });
  return argv
    .map((word) => {
      if (word.includes('\0')) throw new FishError({ code: FishErrorCode.EXECUTOR_REFUSED, message: errorMessage('breakglass', 'argv contains a NUL byte') });
      return `'${word.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}

export async function loadPrivateKey(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('breakglass', `cannot read SSH key file ${path}`), cause });
  }
}

function normaliseFingerprint(value: string): Buffer | undefined {
  const trimmed = value.trim();
  if (/^SHA256:/i.test(trimmed)) return Buffer.from(trimmed.slice(7), 'base64');
  const hex = trimmed.replace(/:/g, '');
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
  return undefined;
}

/**
 * Runs `command` (already quoted, or a fixed verb for a forced-command key) and collects capped
 * output. Never rejects for a remote failure: connection and host-key errors throw FishErrors,
 * a remote non-zero exit is a result.
 */
export function sshExec(target: SshTarget, command: string, options: SshExecOptions): Promise<SshExecResult> {
  const logger = options.logger ?? silentLogger;
  const started = Date.now();
  const expectedHostKey = target.hostKeySha256 === undefined ? undefined : normaliseFingerprint(target.hostKeySha256);
  if (target.hostKeySha256 !== undefined && expectedHostKey === undefined) {
    return Promise.reject(new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('breakglass', 'host key fingerprint must be SHA256:base64 or 64 hex digits') }));
  }
  return new Promise<SshExecResult>((resolve, reject) => {
    const client = new Client();
    const stdout = new BoundedOutput(options.outputLimitBytes);
    const stderr = new BoundedOutput(options.outputLimitBytes);
    let settled = false;
    let timedOut = false;
    let hostKeyRejected = false;
    let timer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let exitCode: number | null = null;
    let exitSignal: string | null = null;

    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      client.end();
      if (error !== undefined) {
        reject(error);
        return;
      }
      resolve({ exitCode, signal: exitSignal, stdout: stdout.toString(), stderr: stderr.toString(), timedOut, durationMs: Date.now() - started });
    };

    let stopChannel: (() => void) | undefined;
    const stop = (why: 'timeout' | 'abort') => {
      if (why === 'timeout') timedOut = true;
      if (stopChannel) stopChannel();
      else finish(new FishError({ code: FishErrorCode.EXECUTOR_CONNECTION, message: errorMessage('breakglass', `ssh to ${target.host} ${why === 'timeout' ? 'timed out' : 'was cancelled'} before the command started`), isRetryable: true }));
    };
    const onAbort = () => stop('abort');
    if (options.signal?.aborted) {
      finish(new FishError({ code: FishErrorCode.EXECUTOR_FAILED, message: errorMessage('breakglass', 'cancelled before the command started') }));
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => stop('timeout'), options.timeoutMs);

    client.on('ready', () => {
      client.exec(command, (error, channel) => {
        if (error) {
          finish(new FishError({ code: FishErrorCode.EXECUTOR_FAILED, message: errorMessage('breakglass', `ssh exec on ${target.host} failed`), cause: error }));
          return;
        }
        stopChannel = () => {
          try {
            channel.signal('TERM');
          } catch {
            // the channel may already be closing
          }
          killTimer = setTimeout(() => {
            channel.close();
            finish();
          }, options.killGraceMs ?? 2000);
        };
        channel.on('data', (chunk: Buffer) => stdout.push(chunk));
        channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        channel.on('exit', (code: number | null, signalName?: string) => {
          exitCode = typeof code === 'number' ? code : null;
          exitSignal = signalName ?? null;
        });
        channel.on('close', () => finish());
      });
    });
    client.on('error', (error: Error & { level?: string }) => {
      if (hostKeyRejected) {
        finish(new FishError({ code: FishErrorCode.EXECUTOR_HOST_KEY, message: errorMessage('breakglass', `host key of ${target.host} does not match the pinned fingerprint`) }));
        return;
      }
      finish(new FishError({ code: FishErrorCode.EXECUTOR_CONNECTION, message: errorMessage('breakglass', `ssh to ${target.host}:${target.port} failed: ${error.message}`), cause: error, isRetryable: true }));
    });
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: target.connectTimeoutMs ?? 10_000,
      keepaliveInterval: 5000,
      hostVerifier: (key: Buffer) => {
        const actual = createHash('sha256').update(key).digest();
        if (expectedHostKey === undefined) {
          logger.info('ssh host key accepted without a pin', { host: target.host, fingerprint: `SHA256:${actual.toString('base64').replace(/=+$/, '')}` });
          return true;
        }
        const ok = actual.length === expectedHostKey.length && timingSafeEqual(actual, expectedHostKey);
        if (!ok) hostKeyRejected = true;
        return ok;
      },
    });
  });
}
