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

/** The messages handed on, in file order, from the first one not acknowledged (a queue with a moving head). */
export class HandedOn {
  private readonly items: Array<{ located: Located; acked: boolean }> = [];
  private head = 0;

  /** The first message handed on and not acknowledged. */
  first(): Located | undefined {
    return this.items[this.head]?.located;
  }

  /**
   * Adds a message handed on; returns its acknowledgement, which drops the acknowledged head of
   * the queue and then saves the position (`persist`).
   */
  add(located: Located, persist: () => Promise<void>): () => Promise<void> {
    const record = { located, acked: false };
    this.items.push(record);
    return () => {
      record.acked = true;
      const before = this.head;
      while (this.items[this.head]?.acked) this.head++;
      if (this.head === before) return Promise.resolve();
      if (this.head >= 1024 && this.head * 2 >= this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      return persist();
    };
  }
}
