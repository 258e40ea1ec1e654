// One Loki tail over WebSocket: back-fill on open, frames to events, dropped-entry recovery, backpressure.
import { createHash } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { z } from 'zod';
import { describeError, errorMessage, formatZodIssues, type BoundedQueue, type ObservedEvent } from '@fish-sre/core';
import { addsLineLabels, entriesOf, noteUncategorized, StreamSchema, TimestampString, type Entry } from './loki-labels.js';
import { SCOPE, type LokiRuntime } from './loki-runtime.js';

const TailFrameSchema = z.object({
  streams: z.array(StreamSchema).nullish(),
  dropped_entries: z.array(z.object({ labels: z.record(z.string(), z.string()).nullish(), timestamp: TimestampString })).nullish(),
  encodingFlags: z.array(z.string()).nullish(),
});

/** How one tail connection ended. */
export type Outcome =
  | { kind: 'closed'; code: number; reason: string; opened: boolean; openedForMs: number; received: number }
  | { kind: 'rejected'; status: number; body: string }
  | { kind: 'failed'; error: unknown; opened: boolean }
  | { kind: 'aborted' };

export interface TailContext {
  signal: AbortSignal;
  queue: BoundedQueue<ObservedEvent>;
  hooks: { onDrained?: () => void };
  /** Emits a line unless already emitted. */
  emit(entry: Entry): boolean;
  /** Queues an event as is. */
  enqueue(event: ObservedEvent): void;
  /** Reads [start, end) with query_range and emits what is new; returns how many were. */
  pageForward(start: bigint, end: bigint): Promise<number>;
  /** Back-fills the gap before a tail that starts at `tailStart`. */
  backfill(tailStart: bigint): Promise<void>;
}

/** Opens the tail, back-fills, then streams frames until the connection ends; never rejects. */
export function connectTail(rt: LokiRuntime, context: TailContext): Promise<Outcome> {
  const { signal, queue, hooks, emit, enqueue, pageForward, backfill } = context;
  return new Promise((resolve) => {
    const tailStart = rt.nowNs();
    // Resume from the last line (inclusive; dedup skips it), back-filled by query_range below.
    const params = new URLSearchParams({ query: rt.config.query, limit: String(rt.config.limit), start: tailStart.toString() });
    if (rt.config.delayFor > 0) params.set('delay_for', String(rt.config.delayFor));
    const wsUrl = `${rt.baseUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${params}`;
    let opened = false;
    let openedAt = 0;
    let received = 0;
    let backfilling = true;
    let pending: Buffer[] = [];
    let paused = false;
    let finished = false;
    let recovery: Promise<void> = Promise.resolve();
    const socket = new WebSocket(wsUrl, { headers: rt.headers, handshakeTimeout: rt.config.requestTimeout, perMessageDeflate: false });

    const finish = (outcome: Outcome) => {
      if (finished) return;
      finished = true;
      signal.removeEventListener('abort', onAbort);
      hooks.onDrained = undefined;
      // A paused socket cannot read the server's close reply; drop it instead of waiting 30 s.
      if (socket.readyState === WebSocket.OPEN && !paused) socket.close(1000);
      else if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: 'aborted' });
    signal.addEventListener('abort', onAbort, { once: true });

    const pause = () => {
      if (paused) return;
      paused = true;
      rt.counters.backpressure_pauses!++;
      socket.pause();
    };
    hooks.onDrained = () => {
      if (paused && !backfilling) {
        paused = false;
        socket.resume();
      }
    };

    const processFrame = (raw: Buffer) => {
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        rt.counters.protocol_errors!++;
        rt.logger.warn('tail frame is not JSON; skipped', { bytes: raw.length });
        return;
      }
      const frame = TailFrameSchema.safeParse(json);
      if (!frame.success) {
        rt.counters.protocol_errors!++;
        rt.logger.warn(`tail frame has an unexpected shape: ${formatZodIssues(frame.error.issues)}`);
        return;
      }
      const categorized = frame.data.encodingFlags?.includes('categorize-labels') ?? false;
      noteUncategorized(rt, categorized);
      const entries = entriesOf(frame.data.streams ?? [], categorized, rt.config.categorizeLabels, addsLineLabels(rt.config.query));
      for (const entry of entries) {
        rt.counters.lines_received!++;
        emit(entry);
      }
      const dropped = frame.data.dropped_entries ?? [];
      if (dropped.length > 0) {
        rt.counters.dropped_entries! += dropped.length;
        if (rt.config.recoverDropped) {
          // Loki still stored the lines it did not send: fetch their time range again (dedup keeps the rest out).
          let low = BigInt(dropped[0]!.timestamp);
          let high = low;
          for (const item of dropped) {
            const ts = BigInt(item.timestamp);
            if (ts < low) low = ts;
            if (ts > high) high = ts;
          }
          recovery = recovery.then(async () => {
            if (finished) return;
            try {
              rt.counters.dropped_recovered! += await pageForward(low, high + 1n);
            } catch (error) {
              rt.counters.dropped_recovery_failures!++;
              rt.logger.warn(errorMessage(SCOPE, `could not fetch the dropped lines again: ${rt.clean(describeError(error))}`));
            }
          });
        }
        const first = dropped[0]!.timestamp;
        const last = dropped[dropped.length - 1]!.timestamp;
        const id = `loki-dropped:${createHash('sha256')
          .update(`${rt.tenant}\u0000${JSON.stringify(dropped)}`)
          .digest('hex')
          .slice(0, 40)}`;
        rt.logger.warn(`Loki dropped ${dropped.length} log lines of the tail`, { first, last });
        enqueue({
          id,
          kind: 'log',
          source: rt.name,
          time: rt.clock.now(),
          host: 'unknown',
          service: 'loki',
          level: 'warn',
          message: `Loki dropped ${dropped.length} log line${dropped.length === 1 ? '' : 's'} of the tail (timestamps ${first} to ${last}) because they were not read fast enough${rt.config.recoverDropped ? '; fish fetches them again with query_range' : '; they were not delivered to fish'}`,
          labels: { dropped_entries: String(dropped.length) },
        });
      }
      if (queue.isFull()) pause();
    };

    socket.on('unexpected-response', (request: ClientRequest, response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        if (size < 4096) chunks.push(chunk);
        size += chunk.length;
      });
      const done = () => {
        request.destroy();
        finish({ kind: 'rejected', status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').trim() });
      };
      response.on('end', done);
      response.on('error', done);
    });
    socket.on('open', () => {
      opened = true;
      openedAt = rt.clock.now();
      rt.status.state = 'connected';
      rt.status.detail = undefined;
      backfill(tailStart).then(
        () => {
          backfilling = false;
          const frames = pending;
          pending = [];
          for (const frame of frames) processFrame(frame);
          if (paused && !queue.isFull()) {
            paused = false;
            socket.resume();
          }
        },
        (error: unknown) => {
          if (finished) return;
          rt.counters.backfill_failures!++;
          finish({ kind: 'failed', error, opened: true });
        },
      );
    });
    socket.on('message', (data: Buffer) => {
      received++;
      if (backfilling) {
        pending.push(data);
        // Bound the frames held while the back-fill runs.
        if (pending.length * 100 >= rt.config.bufferSize) pause();
        return;
      }
      processFrame(data);
    });
    socket.on('error', (error: Error) => {
      if (!opened) finish({ kind: 'failed', error, opened: false });
    });
    socket.on('close', (code: number, reason: Buffer) => {
      finish({ kind: 'closed', code, reason: reason.toString('utf8'), opened, openedForMs: opened ? rt.clock.now() - openedAt : 0, received });
    });
  });
}
