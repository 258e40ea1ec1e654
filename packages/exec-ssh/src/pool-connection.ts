// One SSH connection of the pool: opening it with host key verification, and its error helpers.
import type { Client as SshClient, ConnectConfig } from 'ssh2';
import { FishError, FishErrorCode, describeError, errorMessage, type Logger } from '@fish-sre/core';
import { sshFingerprint } from './known-hosts.js';
import { connectConfig } from './connect-config.js';
import { connectError, verifyHostKey, type HostKeyVerdict } from './host-key-check.js';
import type { SshFailureKind, SshTarget } from './pool-options.js';

export const SCOPE = 'ssh';

export interface Entry {
  client: SshClient;
  ready: Promise<SshClient>;
  alive: boolean;
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export function kindOf(error: unknown): SshFailureKind | undefined {
  return FishError.isInstance(error) ? (error.details.kind as SshFailureKind | undefined) : undefined;
}

export function abortedError(name: string): FishError {
  return new FishError({ code: FishErrorCode.EXECUTOR_FAILED, message: errorMessage(SCOPE, `aborted before a channel to target "${name}" was opened`), details: { kind: 'aborted', target: name } });
}

/**
 * Starts connecting to `target`: the entry's `ready` settles when the connection is authenticated
 * (or fails). `pooled` connections send keep-alives; `onReady`/`onClose` let the pool track them.
 */
export function openConnection(
  name: string,
  target: SshTarget,
  setup: {
    createClient: () => SshClient;
    logger: Logger;
    connectTimeoutMs: number;
    keepAliveIntervalMs: number;
    pooled: boolean;
    onReady?: (entry: Entry) => void;
    onClose?: (entry: Entry) => void;
  },
): Entry {
  const { logger, connectTimeoutMs, keepAliveIntervalMs, pooled } = setup;
  const client = setup.createClient();
  const entry: Entry = { client, ready: Promise.resolve(client), alive: true, active: 0, idleTimer: undefined };
  let verdict: HostKeyVerdict | undefined;
  let presented: string | undefined;
  entry.ready = new Promise<SshClient>((resolve, reject) => {
    let settled = false;
    client.once('ready', () => {
      settled = true;
      // Small request/reply packets: without this, Nagle + delayed ACK add ~40 ms per exchange.
      client.setNoDelay(true);
      logger.debug('ssh connection ready', { target: name, host: target.host, port: target.port, hostKey: presented });
      setup.onReady?.(entry);
      resolve(client);
    });
    client.on('error', (error: Error & { level?: string }) => {
      if (settled) {
        logger.warn('ssh connection error', { target: name, error: describeError(error) });
        return;
      }
      settled = true;
      entry.alive = false;
      reject(connectError(name, target, error, verdict, connectTimeoutMs));
    });
    client.on('close', () => {
      entry.alive = false;
      if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
      setup.onClose?.(entry);
      if (!settled) {
        settled = true;
        reject(connectError(name, target, new Error('connection closed during the handshake'), verdict, connectTimeoutMs));
      }
    });
  });
  // The pool's callers observe rejections through `ready`; this keeps a failed background
  // connection from being reported as an unhandled rejection.
  entry.ready.catch(() => undefined);

  let config: ConnectConfig;
  try {
    config = connectConfig(name, target, {
      readyTimeout: connectTimeoutMs,
      keepaliveInterval: pooled ? keepAliveIntervalMs : 0,
      hostVerifier: (key: Buffer) => {
        presented = sshFingerprint(key);
        verdict = verifyHostKey(name, target, key, logger);
        return verdict === undefined;
      },
    });
  } catch (error) {
    entry.alive = false;
    entry.ready = Promise.reject(error);
    entry.ready.catch(() => undefined);
    return entry;
  }
  try {
    client.connect(config);
  } catch (error) {
    entry.alive = false;
    entry.ready = Promise.reject(connectError(name, target, error as Error, verdict, connectTimeoutMs));
    entry.ready.catch(() => undefined);
  }
  return entry;
}
