import { OUTPUT_LIMIT_BYTES } from '../contracts/executor.js';

/**
 * Keeps at most `limitBytes` of a command's output (UTF-8), and says how much was cut, so an
 * audit row or a notification never carries megabytes and never hides that it was shortened.
 */
export function truncateOutput(output: string | Buffer, limitBytes: number = OUTPUT_LIMIT_BYTES): string {
  const buffer = typeof output === 'string' ? Buffer.from(output, 'utf8') : output;
  if (buffer.length <= limitBytes) return buffer.toString('utf8');
  const kept = buffer
    .subarray(0, limitBytes)
    .toString('utf8')
    .replace(/\uFFFD+$/u, '');
  return `${kept}\n[fish-sre: output truncated, ${buffer.length - limitBytes} more bytes not kept]`;
}

/**
 * Collects a stream's chunks up to a cap without holding more than the cap in memory, counting
 * what it threw away.
 */
export class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly limitBytes: number = OUTPUT_LIMIT_BYTES) {}

  push(chunk: Buffer | string): void {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const room = this.limitBytes - this.kept;
    if (room <= 0) {
      this.dropped += buffer.length;
      return;
    }
    const part = buffer.length <= room ? buffer : buffer.subarray(0, room);
    this.chunks.push(part);
    this.kept += part.length;
    this.dropped += buffer.length - part.length;
  }

  get droppedBytes(): number {
    return this.dropped;
  }

  toString(): string {
    const text = Buffer.concat(this.chunks).toString('utf8');
    if (this.dropped === 0) return text;
    return `${text.replace(/\uFFFD+$/u, '')}\n[fish-sre: output truncated, ${this.dropped} more bytes not kept]`;
  }
}
