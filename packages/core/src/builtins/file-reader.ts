// Helpers of the file source's reader: file identity, the located message type, an abortable sleep.
import type { ObservedEvent } from '../contracts/observed-event.js';

export const CHUNK_BYTES = 64 * 1024;

export function identity(info: { dev: number; ino: number }): { inode: number; fileId: string } {
  return { inode: info.ino, fileId: `file:${info.dev.toString(36)}.${info.ino.toString(36)}` };
}

/** A message's event with where its first line is in the file: byte offset, lines before it. */
export interface Located {
  event: ObservedEvent;
  offset: number;
  line: number;
}

export function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, milliseconds);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
