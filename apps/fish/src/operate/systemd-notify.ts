import { createRequire } from 'node:module';
import { describeError, silentLogger, sleep, type Logger } from '@fish-sre/core';
import type { LoopHealth } from './loop-health.js';

/** Sends one datagram to a unix socket path. */
export interface DatagramSender {
  send(path: string, message: Buffer): Promise<void>;
  close(): void;
}

interface UnixDgramSocket {
  on(event: 'error', listener: (error: Error) => void): void;
  send(buffer: Buffer, offset: number, length: number, path: string, callback?: (error?: Error) => void): void;
  close(): void;
}

/**
 * sd_notify needs a unix *datagram* socket, which Node's core cannot open (`dgram` is UDP only,
 * `net` is stream only). `unix-dgram` is the small maintained binding for exactly that; it is an
 * optional dependency, loaded only when systemd asks for notifications, so a machine without a
 * compiler still runs fish (without the watchdog, said loudly at start).
 */
export function loadUnixDatagramSender(): DatagramSender {
  const require = createRequire(import.meta.url);
  const unix = require('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  const socket = unix.createSocket('unix_dgram');
  let lastError: Error | undefined;
  socket.on('error', (error) => {
    lastError = error;
  });
  return {
    send: (path, message) =>
      new Promise<void>((resolve, reject) => {
        lastError = undefined;
        socket.send(message, 0, message.length, path, (error?: Error) => {
          const failure = error ?? lastError;
          if (failure) reject(failure);
          else resolve();
        });
      }),
    close: () => socket.close(),
  };
}

export interface SystemdNotifyOptions {
  /** `NOTIFY_SOCKET` as systemd sets it for `Type=notify` units. */
  socketPath: string;
  /** `WATCHDOG_USEC` as systemd sets it from `WatchdogSec=`; no watchdog without it. */
  watchdogUsec?: number;
  health: LoopHealth;
  sender?: DatagramSender;
  logger?: Logger;
}

export interface SystemdNotify {
  /** `READY=1`: start-up finished (systemd starts dependent units only now). */
  ready(status: string): Promise<void>;
  /** `STOPPING=1`. */
  stopping(): Promise<void>;
  /** Starts the watchdog loop: `WATCHDOG=1` every half period, only while the loop is healthy. */
  startWatchdog(): void;
  /** Pings sent so far (for tests and `fish-sre status`). */
  pings(): number;
  close(): Promise<void>;
}

/**
 * The sd_notify protocol (man sd_notify): newline-separated `KEY=value` assignments in one
 * datagram to `$NOTIFY_SOCKET`. A wedged or unhealthy loop stops the `WATCHDOG=1` pings, and
 * systemd restarts fish after `WatchdogSec`.
 */
export function createSystemdNotify(options: SystemdNotifyOptions): SystemdNotify {
  if (options.socketPath.startsWith('@')) throw new Error("NOTIFY_SOCKET in the abstract namespace is not supported: fish needs a socket path (systemd's default /run/systemd/notify)");
  const logger = options.logger ?? silentLogger;
  const sender = options.sender ?? loadUnixDatagramSender();
  const abort = new AbortController();
  let loop: Promise<void> | undefined;
  let count = 0;
  const send = (text: string) => sender.send(options.socketPath, Buffer.from(text, 'utf8'));

  return {
    ready: (status) => send(`READY=1\nSTATUS=${status.replace(/\n/g, ' ')}\nMAINPID=${process.pid}`),
    stopping: () => send('STOPPING=1\nSTATUS=stopping'),
    pings: () => count,
    startWatchdog() {
      if (!options.watchdogUsec || loop) return;
      const periodMs = Math.max(50, Math.floor(options.watchdogUsec / 1000 / 2));
      loop = (async () => {
        while (!abort.signal.aborted) {
          try {
            const report = await options.health.check();
            if (report.healthy) {
              await send('WATCHDOG=1');
              count += 1;
            } else {
              await send(`STATUS=unhealthy: ${report.reasons.join('; ')}`);
              logger.warn(`watchdog not pinged: ${report.reasons.join('; ')}`);
            }
          } catch (error) {
            logger.warn(`sd_notify failed: ${describeError(error)}`);
          }
          await sleep(periodMs, abort.signal);
        }
      })();
    },
    async close() {
      abort.abort();
      await loop;
      sender.close();
    },
  };
}
