// The Loki read loop: dedup, saved position, multiline joining, back-fill paging and reconnects with backoff.
import { LruDedup, createContinuationJoiner, type JoinedMessage } from '@fish-sre/core/internal';
import { describeError, errorMessage, sleep, type BoundedQueue, type ObservedEvent } from '@fish-sre/core';
import { queryRange } from './loki-http.js';
import { lokiEventId, toEvent, type Entry } from './loki-labels.js';
import type { LokiAcknowledgements, LokiLine } from './loki-acks.js';
import type { LokiPosition } from './loki-position.js';
import { SCOPE, type LokiRuntime } from './loki-runtime.js';
import { connectTail } from './loki-tail.js';

const backoff = (rt: LokiRuntime, attempt: number) => {
  const ceiling = Math.min(rt.config.reconnect.maxDelay, rt.config.reconnect.initialDelay * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (rt.random() * ceiling) / 2);
};

/**
 * Reads from Loki into `queue` until `signal` aborts: tails, and back-fills every gap with
 * query_range. Each event holds its lines in `acks`, which notes them in `position` once processed.
 */
export async function runLokiReader(
  rt: LokiRuntime,
  signal: AbortSignal,
  queue: BoundedQueue<ObservedEvent>,
  hooks: { onDrained?: () => void },
  position: LokiPosition,
  acks: LokiAcknowledgements,
): Promise<void> {
  // core's LRU: O(1) eviction, where a Set evicting with values().next() slows down as deleted entries pile up.
  const recent = new LruDedup(Math.max(10_000, rt.config.limit * 4));
  let lastNs: bigint | undefined;
  const initialStart = rt.nowNs() - BigInt(Math.floor(rt.config.lookback)) * 1_000_000n;
  let attempt = 0;
  const saved = await position.load();
  if (saved) {
    lastNs = saved.lastNs;
    for (const id of saved.ids) recent.admit(id);
    rt.logger.info('resuming from the saved read position', { lastNs: saved.lastNs.toString() });
  } else position.begin(initialStart);
  // Continuation lines are joined per host and service; completion is wall-clock idleness.
  type Meta = { entry: Entry; id: string; line: LokiLine };
  const joiner = rt.config.multiline === false ? undefined : createContinuationJoiner<Meta>({ ...rt.config.multiline, now: () => performance.now() });

  const enqueue = (event: ObservedEvent, lines: LokiLine[] = []) => {
    acks.carries(event, lines);
    queue.push(event);
    rt.counters.events_emitted!++;
  };
  const enqueueJoined = (messages: Array<JoinedMessage<Meta>>) => {
    for (const { meta, message, metas } of messages) {
      const event = toEvent(rt, message === meta.entry.line ? meta.entry : { ...meta.entry, line: message }, meta.id);
      enqueue(
        event,
        metas.map((item) => item.line),
      );
    }
    if (joiner) {
      const stats = joiner.stats();
      rt.counters.multiline_joined_lines = stats.joinedLines;
      rt.counters.multiline_cut = stats.cutMessages;
    }
  };
  const idleFlush =
    joiner && rt.config.multiline !== false
      ? setInterval(() => enqueueJoined(joiner.flushIdle(performance.now() - (rt.config.multiline as { wait: number }).wait)), Math.max(20, Math.min(500, rt.config.multiline.wait / 2)))
      : undefined;
  idleFlush?.unref();

  /** Emits a line unless it was already emitted (same tenant, labels, ns timestamp and text). */
  const emit = (entry: Entry): boolean => {
    const ts = entry.ts.toString();
    const id = lokiEventId(rt.tenant, entry.labels, ts, entry.line);
    if (!recent.admit(id)) {
      rt.counters.duplicates_skipped!++;
      return false;
    }
    // The position is noted once the event holding the line is processed (acks), not here.
    const line = acks.read(entry.ts, id);
    if (joiner) {
      const event = toEvent(rt, entry, id);
      // A blank line that starts nothing is dropped by the joiner; inside a message it waits for the message's first line anyway.
      if (entry.line.trim() === '') void acks.settle([line]);
      enqueueJoined(joiner.push(`${event.host}\0${event.service}`, entry.line, { entry, id, line }));
    } else enqueue(toEvent(rt, entry, id), [line]);
    if (lastNs === undefined || entry.ts > lastNs) lastNs = entry.ts;
    return true;
  };

  /** Reads [from, end) forward page by page and emits what was not emitted yet; returns how many were new. */
  const pageForward = async (start: bigint, end: bigint): Promise<number> => {
    let from = start;
    let fresh = 0;
    for (let page = 0; page < 100_000 && !signal.aborted; page++) {
      await queue.waitForSpace(signal);
      if (signal.aborted) break;
      const entries = await queryRange(rt, from, end, signal);
      for (const entry of entries) if (emit(entry)) fresh++;
      if (entries.length < rt.config.limit) break;
      const newest = entries[entries.length - 1]!.ts;
      if (newest === from) {
        // More than `limit` lines share one nanosecond: a page cannot get past them.
        rt.counters.backfill_truncated!++;
        rt.logger.warn('more lines share one timestamp than the page limit; some may be skipped (raise limit)', { ts: newest.toString() });
        from = newest + 1n;
      } else {
        // Same-timestamp lines may straddle the page boundary: restart at that timestamp, dedup skips repeats.
        from = newest;
      }
    }
    return fresh;
  };

  const backfill = async (tailStart: bigint) => {
    // resumeOverlap re-reads a little before the last line, for lines of other streams that Loki
    // delivered out of timestamp order; dedup drops what was already emitted.
    let from = lastNs === undefined ? initialStart : lastNs - BigInt(Math.floor(rt.config.resumeOverlap)) * 1_000_000n;
    const oldest = rt.nowNs() - BigInt(Math.floor(rt.config.maxBackfill)) * 1_000_000n;
    if (from < oldest) {
      rt.counters.backfill_window_exceeded!++;
      rt.logger.warn(`gap since the last line is longer than maxBackfill; lines older than ${rt.config.maxBackfill} ms are skipped`, { from: from.toString() });
      from = oldest;
    }
    // `end` is exclusive; reach past the tail's start so the two overlap (dedup removes the overlap)
    // even when this machine's clock is a little behind Loki's.
    rt.counters.backfilled_lines! += await pageForward(from, tailStart + 60_000_000_000n);
  };

  while (!signal.aborted) {
    const outcome = await connectTail(rt, { signal, queue, hooks, emit, enqueue, pageForward, backfill });
    if (outcome.kind === 'aborted' || signal.aborted) break;
    let delay: number;
    let detail: string;
    if (outcome.kind === 'rejected') {
      rt.counters.config_errors!++;
      const what = outcome.status === 401 || outcome.status === 403 ? 'check `tenant` (sent as X-Scope-OrgID) and the credentials' : 'check the LogQL `query`, `limit` and `delayFor`';
      detail = `Loki refused the tail request with HTTP ${outcome.status}: ${rt.clean(outcome.body) || '(empty body)'}; ${what}. Retrying in ${Math.round(rt.config.reconnect.configErrorDelay / 1000)} s.`;
      rt.logger.error(errorMessage(SCOPE, detail));
      delay = rt.config.reconnect.configErrorDelay;
      attempt++;
    } else if (outcome.kind === 'failed') {
      if (outcome.opened) {
        detail = `back-fill after reconnect failed: ${rt.clean(describeError(outcome.error))}`;
      } else {
        rt.counters.connect_failures!++;
        detail = `cannot connect to Loki at ${rt.baseUrl}: ${rt.clean(describeError(outcome.error))}`;
      }
      rt.logger.warn(errorMessage(SCOPE, detail));
      delay = backoff(rt, attempt++);
    } else {
      const { code, reason } = outcome;
      if (code === 1011 && reason.includes('max duration')) {
        rt.counters.closes_max_duration!++;
        detail = 'Loki ended the tail after its maximum duration (tail_max_duration); resuming';
        attempt = 0;
      } else if (code === 1011 && reason.includes('max concurrent tail requests')) {
        rt.counters.closes_concurrency_limit!++;
        detail = `Loki refused the tail: too many tails for this tenant (${reason}); raise limits_config.max_concurrent_tail_requests or stop other tails. Retrying.`;
        rt.logger.warn(errorMessage(SCOPE, detail));
        attempt++;
      } else if (code === 1006) {
        rt.counters.closes_abnormal!++;
        detail = 'connection to Loki dropped (1006: no close frame; restart or proxy timeout); resuming';
        attempt = outcome.openedForMs > 10_000 || outcome.received > 0 ? 0 : attempt + 1;
      } else {
        rt.counters.closes_other!++;
        detail = `Loki closed the tail (${code}${reason ? ` ${rt.clean(reason)}` : ''}); resuming`;
        attempt = outcome.openedForMs > 10_000 || outcome.received > 0 ? 0 : attempt + 1;
      }
      rt.logger.info(errorMessage(SCOPE, detail), { code });
      delay = attempt === 0 ? backoff(rt, 0) : backoff(rt, attempt - 1);
    }
    rt.status.detail = detail;
    rt.status.state = 'reconnecting';
    await sleep(delay, signal);
    if (signal.aborted) break;
    rt.counters.reconnects!++;
  }
  if (idleFlush) clearInterval(idleFlush);
  if (joiner) enqueueJoined(joiner.flushAll());
  await position.flush();
  rt.status.state = 'down';
  rt.status.detail = 'stopped';
}
