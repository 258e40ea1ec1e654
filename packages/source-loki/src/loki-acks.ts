// The Loki source's acknowledgements: the saved position advances over a line only once the event holding it was processed.
import type { ObservedEvent } from '@fish-sre/core';
import type { LokiPosition } from './loki-position.js';

/** One line read from Loki (not a repeat), in reading order; `done` once the event holding it was processed. */
export interface LokiLine {
  ts: bigint;
  id: string;
  done: boolean;
}

/** Which lines each event handed on holds, and the tracker of the read that yielded it. */
export type CoveredLines = WeakMap<object, { acks: LokiAcknowledgements; lines: LokiLine[] }>;

/**
 * Keeps the lines read and not yet processed, in reading order. The saved position is noted line
 * by line up to the first one not processed: a line waiting in the joiner, in the source's queue
 * or in the engine's bus at a crash is read again after the restart, never skipped.
 */
export class LokiAcknowledgements {
  private readonly lines: LokiLine[] = [];
  private head = 0;

  constructor(
    private readonly position: LokiPosition,
    private readonly covered: CoveredLines,
  ) {}

  /** Records a line just read. */
  read(ts: bigint, id: string): LokiLine {
    const line = { ts, id, done: false };
    this.lines.push(line);
    return line;
  }

  /** `event` holds `lines`: acknowledging it marks them processed. */
  carries(event: ObservedEvent, lines: LokiLine[]): void {
    if (lines.length > 0) this.covered.set(event, { acks: this, lines });
  }

  /** Marks lines processed that no event holds (a blank line the joiner drops); returns the save it started, if any. */
  settle(lines: LokiLine[]): Promise<void> | undefined {
    for (const line of lines) line.done = true;
    let moved = false;
    while (this.head < this.lines.length && this.lines[this.head]!.done) {
      const line = this.lines[this.head++]!;
      this.position.note(line.ts, line.id);
      moved = true;
    }
    if (this.head >= 1024 && this.head * 2 >= this.lines.length) {
      this.lines.splice(0, this.head);
      this.head = 0;
    }
    return moved ? this.position.flush() : undefined;
  }
}

/** Acknowledges `event` to the read that yielded it; the position save it started, if any. */
export function acknowledgeLoki(covered: CoveredLines, event: ObservedEvent): Promise<void> | undefined {
  if (event === null || typeof event !== 'object') return undefined;
  const entry = covered.get(event);
  if (!entry) return undefined;
  covered.delete(event);
  return entry.acks.settle(entry.lines);
}
