// Helpers of the file source's reader: the open file read line by line, file identity, the located message type, an abortable sleep.
import { open, type FileHandle } from 'node:fs/promises';
import type { ObservedEvent } from '../contracts/observed-event.js';

export const CHUNK_BYTES = 64 * 1024;

/**
 * A file's inode, and its id in line ids: device, inode and, where the file system records it,
 * creation time (an inode number freed by a compressed or deleted file is soon given to a new one,
 * whose lines must not carry the old one's ids).
 */
export function identity(info: { dev: number; ino: number; birthtimeMs?: number }): { inode: number; fileId: string } {
  const born = info.birthtimeMs ? `.${Math.floor(info.birthtimeMs).toString(36)}` : '';
  return { inode: info.ino, fileId: `file:${info.dev.toString(36)}.${info.ino.toString(36)}${born}` };
}

/**
 * A message's event with where its first line is: the file it was read from (inode: after a
 * rotation the file at the path is another one), byte offset, lines before it in that file.
 */
export interface Located {
  event: ObservedEvent;
  inode: number;
  offset: number;
  line: number;
}

/** One line read (without its newline): its text, the byte offset where it starts, and where the next one starts. */
export interface RawLine {
  text: string;
  offset: number;
  end: number;
}

/**
 * One file, open and read from `position` on, split on newline bytes (a newline byte never occurs
 * inside a UTF-8 sequence), so each line's byte offset is known. It stays open between polls:
 * after a rotation by rename its last lines are still read through the open handle, as `tail -F`
 * does, before the new file at the path is opened.
 */
export class OpenFile {
  /** An unfinished last line (the writer may be in the middle of it), and where it starts. */
  private carry: Buffer | undefined;
  private carryStart: number;

  private constructor(
    private readonly handle: FileHandle,
    readonly inode: number,
    readonly fileId: string,
    /** The bytes read so far (including an unfinished last line). */
    public position: number,
  ) {
    this.carryStart = position;
  }

  /** Opens `path` to read from `position`; `position` is 0 unless the file opened is `expectedInode`. */
  static async open(path: string, position: number, expectedInode?: number): Promise<OpenFile> {
    const handle = await open(path, 'r');
    try {
      const { inode, fileId } = identity(await handle.stat());
      return new OpenFile(handle, inode, fileId, expectedInode === undefined || expectedInode === inode ? position : 0);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  /** Truncated in place (copytruncate): read again from the top. */
  restart(): void {
    this.position = 0;
    this.carry = undefined;
    this.carryStart = 0;
  }

  /** The complete lines from `position` up to `size`; an unfinished last line is kept for the next call. */
  async *lines(size: number): AsyncGenerator<RawLine> {
    const buffer = Buffer.alloc(Math.max(1, Math.min(CHUNK_BYTES, size - this.position)));
    while (this.position < size) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, size - this.position), this.position);
      if (bytesRead === 0) break;
      let data = buffer.subarray(0, bytesRead);
      let dataStart = this.position;
      this.position += bytesRead;
      if (this.carry) {
        data = Buffer.concat([this.carry, data]);
        dataStart = this.carryStart;
        this.carry = undefined;
      }
      // The buffer is reused by the next read (after every line of this one was taken): an
      // unfinished last line is kept as a copy.
      const last = data.lastIndexOf(0x0a);
      if (last + 1 < data.length) {
        this.carry = Buffer.from(data.subarray(last + 1));
        this.carryStart = dataStart + last + 1;
      }
      let start = 0;
      for (let newline = data.indexOf(0x0a); newline !== -1 && newline <= last; newline = data.indexOf(0x0a, start)) {
        yield { text: data.toString('utf8', start, newline), offset: dataStart + start, end: dataStart + newline + 1 };
        start = newline + 1;
      }
    }
  }

  /** The unfinished last line, taken out as a line of its own (reading ends, or the writer moved to a new file). */
  takeCarry(): RawLine | undefined {
    const carry = this.carry;
    if (!carry) return undefined;
    this.carry = undefined;
    return { text: carry.toString('utf8'), offset: this.carryStart, end: this.carryStart + carry.length };
  }

  close(): Promise<void> {
    return this.handle.close();
  }
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
