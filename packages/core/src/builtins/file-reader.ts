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

/**
 * Adds a message handed on to `handedOn` (file order, from the first one not acknowledged) and
 * returns its acknowledgement: it drops the acknowledged head of the list and saves the position.
 */
export function awaitAcknowledgement(handedOn: Array<{ located: Located; acked: boolean }>, located: Located, persist: () => Promise<void>): () => Promise<void> {
  const record = { located, acked: false };
  handedOn.push(record);
  return () => {
    record.acked = true;
    let done = 0;
    while (handedOn[done]?.acked) done++;
    if (done === 0) return Promise.resolve();
    handedOn.splice(0, done);
    return persist();
  };
}
