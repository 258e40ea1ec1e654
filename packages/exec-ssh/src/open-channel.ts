import type { Client as SshClient, ClientChannel } from 'ssh2';
import { describeError } from '@fish-sre/core';

/** Marks an exec failure that happened before the server opened the channel (safe to retry). */
export class BeforeChannelOpen extends Error {}

/**
 * Sends `exec <command>` on an open connection. `onChannel` runs synchronously with the server's
 * confirmation (listeners must go on there: ssh2 can deliver a fast command's exit status in the
 * same read); `release` runs when the channel closes or could not be opened.
 */
export function openExecChannel(client: SshClient, command: string, hooks: { release: () => void; onExecSent: () => void; onChannel?: (channel: ClientChannel) => void }): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) => {
    try {
      client.exec(command, (error, channel) => {
        if (error !== undefined && error !== null) {
          hooks.release();
          // ssh2 reports 'Unable to exec' / 'Channel is not open' once the channel was open;
          // every other error here (connection closed, open failure) came before it opened.
          if (/Unable to exec|Channel is not open/.test(error.message)) reject(error);
          else reject(new BeforeChannelOpen(error.message, { cause: error }));
          return;
        }
        channel.once('close', hooks.release);
        hooks.onChannel?.(channel);
        resolve(channel);
      });
      hooks.onExecSent();
    } catch (error) {
      hooks.release();
      reject(new BeforeChannelOpen(describeError(error), { cause: error }));
    }
  });
}

/** Resolves like `promise`, but rejects with `abortError()` as soon as `signal` aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, abortError: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Ends a connection politely, and destroys it if the server has not closed it within `graceMs`. */
export function endClient(client: SshClient, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      client.destroy();
      resolve();
    }, graceMs);
    timer.unref();
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    client.end();
  });
}
