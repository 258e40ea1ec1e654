import { afterEach, describe, expect, it } from 'vitest';
import { ObservedEventSchema, createMemoryStateStore, type ObservedEvent, type PluginStateStore, type Source } from '@fish-sre/core';

export interface SourceConformanceOptions {
  /** Suite title, e.g. `loki`. */
  name: string;
  /** A fresh source per test (the suite closes it). */
  createSource: () => Source | Promise<Source>;
  /**
   * Makes the upstream produce `count` new observations that this source must yield exactly
   * once each; returns one unique marker per observation (found by `matches`).
   * Called after `events()` has been started.
   */
  produce: (context: { source: Source; count: number; runId: string }) => Promise<string[]>;
  /** Whether an event is the observation a marker stands for. @default message or a label value contains the marker */
  matches?: (event: ObservedEvent, marker: string) => boolean;
  /** Observations per test. @default 20 */
  count?: number;
  /** Upper bound for all produced observations to arrive. @default 20_000 */
  deliveryTimeoutMs?: number;
  /** Quiet time after the last expected observation, to catch duplicates. @default 500 */
  settleMs?: number;
  /** Bound for the iterator to end once the signal aborts. @default 2_000 */
  stopTimeoutMs?: number;
  /**
   * For a source that keeps a read position: a source keeping it in `position`, reading the same
   * upstream as the previous call when `restart` is true (the same file, the same query). When
   * given, the suite checks acknowledgements: after a restart, exactly the observations whose
   * events were not acknowledged are read again.
   */
  createSourceWithPosition?: (position: PluginStateStore, restart: boolean) => Source | Promise<Source>;
}

const defaultMatches = (event: ObservedEvent, marker: string) => event.message.includes(marker) || Object.values(event.labels).some((value) => value.includes(marker));

interface Collector {
  events: ObservedEvent[];
  done: Promise<void>;
  ended: () => boolean;
  waitFor: (predicate: () => boolean, timeoutMs: number) => Promise<boolean>;
}

function collect(source: Source, signal: AbortSignal, acknowledges = false): Collector {
  const events: ObservedEvent[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const done = (async () => {
    try {
      for await (const event of source.events(signal, { acknowledges })) {
        events.push(event);
        wake?.();
      }
    } finally {
      ended = true;
      wake?.();
    }
  })();
  const waitFor = async (predicate: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0 || ended) return predicate();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return true;
  };
  return { events, done, ended: () => ended, waitFor };
}

/** Resolves true when the promise settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return result;
}

/**
 * The conformance suite every `Source` passes: valid events, exactly-once delivery of what the
 * upstream produced, prompt stop on abort, monotonic health counters, idempotent close; and, for
 * a source with a read position, a restart that reads again what was not acknowledged.
 */
export function testSource(options: SourceConformanceOptions): void {
  const count = options.count ?? 20;
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 20_000;
  const settleMs = options.settleMs ?? 500;
  const stopTimeoutMs = options.stopTimeoutMs ?? 2_000;
  const matches = options.matches ?? defaultMatches;
  let run = 0;

  describe(`Source conformance: ${options.name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    const open = async () => {
      const source = await options.createSource();
      const controller = new AbortController();
      cleanups.push(async () => {
        controller.abort();
        await source.close?.();
      });
      return { source, controller };
    };
    const runId = () => `conf${process.pid}x${Date.now().toString(36)}x${run++}`;

    it('declares specificationVersion v1 and a name', async () => {
      const { source } = await open();
      expect(source.specificationVersion).toBe('v1');
      expect(typeof source.name).toBe('string');
      expect(source.name.length).toBeGreaterThan(0);
    });

    it('yields every produced observation exactly once, as valid ObservedEvents', async () => {
      const { source, controller } = await open();
      const collector = collect(source, controller.signal);
      const markers = await options.produce({ source, count, runId: runId() });
      expect(new Set(markers).size).toBe(markers.length);
      const seen = (marker: string) => collector.events.filter((event) => matches(event, marker)).length;
      const arrived = await collector.waitFor(() => markers.every((marker) => seen(marker) >= 1), deliveryTimeoutMs);
      expect(arrived, `missing: ${markers.filter((marker) => seen(marker) === 0).join(', ')}`).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      for (const marker of markers) expect(seen(marker), `marker ${marker}`).toBe(1);
      const ids = collector.events.map((event) => event.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const event of collector.events) {
        const parsed = ObservedEventSchema.safeParse(event);
        expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues)).toBe(true);
        expect(event.source).toBe(source.name);
      }
      controller.abort();
      expect(await settlesWithin(collector.done, stopTimeoutMs)).toBe(true);
    });

    it('ends the iterator promptly when the signal aborts, also while idle', async () => {
      const { source, controller } = await open();
      const collector = collect(source, controller.signal);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(collector.ended()).toBe(false);
      controller.abort();
      expect(await settlesWithin(collector.done, stopTimeoutMs)).toBe(true);
    });

    it('yields nothing and ends at once for an already aborted signal', async () => {
      const { source } = await open();
      const controller = new AbortController();
      controller.abort();
      const iterator = source.events(controller.signal)[Symbol.asyncIterator]();
      const next = iterator.next();
      expect(await settlesWithin(next, stopTimeoutMs)).toBe(true);
      expect((await next).done).toBe(true);
    });

    it('keeps health counters monotonic and finite', async () => {
      const { source, controller } = await open();
      if (!source.health) return;
      const states = ['connected', 'reconnecting', 'down'];
      const before = source.health();
      expect(states).toContain(before.state);
      const collector = collect(source, controller.signal);
      const markers = await options.produce({ source, count: Math.max(1, Math.floor(count / 4)), runId: runId() });
      await collector.waitFor(() => markers.every((marker) => collector.events.some((event) => matches(event, marker))), deliveryTimeoutMs);
      const after = source.health();
      expect(states).toContain(after.state);
      for (const [key, value] of Object.entries(after.counters)) {
        expect(Number.isFinite(value), key).toBe(true);
        expect(value, key).toBeGreaterThanOrEqual(0);
      }
      for (const [key, value] of Object.entries(before.counters)) {
        expect(after.counters[key], `counter ${key} went backwards or vanished`).toBeGreaterThanOrEqual(value);
      }
      controller.abort();
      await collector.done;
      const last = source.health();
      for (const [key, value] of Object.entries(after.counters)) expect(last.counters[key], key).toBeGreaterThanOrEqual(value);
    });

    it('closes idempotently and ends running iterators', async () => {
      const { source, controller } = await open();
      const collector = collect(source, controller.signal);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await source.close?.();
      await source.close?.();
      if (source.close) expect(await settlesWithin(collector.done, stopTimeoutMs)).toBe(true);
      controller.abort();
      expect(await settlesWithin(collector.done, stopTimeoutMs)).toBe(true);
    });

    const withPosition = options.createSourceWithPosition;
    if (withPosition) {
      it('after a restart, reads again exactly the observations whose events were not acknowledged', async () => {
        const position = createMemoryStateStore();
        const source = await withPosition(position, false);
        const controller = new AbortController();
        cleanups.push(async () => {
          controller.abort();
          await source.close?.();
        });
        expect(typeof source.acknowledge, 'a source with a read position acknowledges').toBe('function');
        const collector = collect(source, controller.signal, true);
        const markers = await options.produce({ source, count, runId: runId() });
        const seen = (events: ObservedEvent[], marker: string) => events.filter((event) => matches(event, marker));
        expect(await collector.waitFor(() => markers.every((marker) => seen(collector.events, marker).length >= 1), deliveryTimeoutMs)).toBe(true);
        // The first half was processed; the rest was taken but still queued when the process died.
        const half = Math.floor(markers.length / 2);
        const firstPending = collector.events.findIndex((event) => markers.slice(half).some((marker) => matches(event, marker)));
        for (const event of collector.events.slice(0, firstPending)) await source.acknowledge!(event);
        const pendingIds = markers.slice(half).map((marker) => seen(collector.events, marker)[0]!.id);
        // What a crash leaves: a copy of the saved position as it is now.
        const afterCrash = createMemoryStateStore();
        for (const [key, value] of position.values) await afterCrash.write(key, value);
        controller.abort();
        expect(await settlesWithin(collector.done, stopTimeoutMs)).toBe(true);

        const restarted = await withPosition(afterCrash, true);
        const again = new AbortController();
        cleanups.push(async () => {
          again.abort();
          await restarted.close?.();
        });
        const second = collect(restarted, again.signal, true);
        const arrived = await second.waitFor(() => markers.slice(half).every((marker) => seen(second.events, marker).length >= 1), deliveryTimeoutMs);
        expect(arrived, `not read again: ${markers.slice(half).filter((marker) => seen(second.events, marker).length === 0)}`).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, settleMs));
        for (const marker of markers.slice(0, half)) expect(seen(second.events, marker), `acknowledged ${marker} read again`).toHaveLength(0);
        for (const marker of markers.slice(half)) expect(seen(second.events, marker), `marker ${marker}`).toHaveLength(1);
        // Read again under the same ids, so a consumer can tell a repeat.
        expect(markers.slice(half).map((marker) => seen(second.events, marker)[0]!.id)).toEqual(pendingIds);
        again.abort();
        expect(await settlesWithin(second.done, stopTimeoutMs)).toBe(true);
      });
    }

    it('answers check() with ok and words, when it has one', async () => {
      const { source } = await open();
      if (!source.check) return;
      const result = await source.check(AbortSignal.timeout(10_000));
      expect(typeof result.ok).toBe('boolean');
      expect(result.detail.length).toBeGreaterThan(0);
      expect(result.ok, result.detail).toBe(true);
    });
  });
}
