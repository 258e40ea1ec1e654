import { describe, expect, it } from 'vitest';
import { ApprovalSigner, FishEngine, ManualClock, createMemoryAuditStore, type Catalog, type ObservedEvent } from '@fish-sre/core';
import { createFishMetrics } from '../../src/operate/metrics.js';
import { fishEngineObserver } from '../../src/operate/observe.js';
import { parseMetrics } from '../../src/commands/status.js';

const catalog: Catalog = { patterns: [], scriptsDir: '/nonexistent', loadedFrom: '/nonexistent', loadedAt: 0, digest: 'x' };
const notifier = { specificationVersion: 'v1' as const, name: 'none', propose: async () => ({ id: 'n', channel: 'none' }), notify: async () => ({ id: 'n', channel: 'none' }) };
const executor = { specificationVersion: 'v1' as const, name: 'none', run: () => Promise.reject(new Error('nothing runs here')) };

describe('per-source event counters on /metrics', () => {
  it('counts deduplicated, stale and dropped events under the source that sent them, and an unknown name as other', async () => {
    const clock = new ManualClock(Date.UTC(2026, 4, 1, 12, 0, 0));
    const metrics = createFishMetrics({ version: 'test' });
    const engine = new FishEngine({
      catalog: () => catalog,
      sources: [],
      audit: createMemoryAuditStore(),
      notifier,
      executor,
      signer: new ApprovalSigner(ApprovalSigner.generateSecret()),
      publicUrl: 'https://fish.test',
      clock,
      maxEvidenceAgeMs: 60_000,
      busCapacity: 1,
      observer: fishEngineObserver(metrics, ['loki', 'file']),
    });
    const event = (id: string, source: string, ageMs = 0): ObservedEvent => ({
      id,
      kind: 'log',
      source,
      time: clock.now() - ageMs,
      host: 'penny',
      service: 'web',
      level: 'info',
      message: 'GET / 200',
      labels: {},
    });
    for (const id of ['a', 'a', 'a']) engine.ingest(event(id, 'loki')); // two duplicates
    engine.ingest(event('b', 'file'));
    engine.ingest(event('b', 'file')); // one duplicate
    engine.ingest(event('c', 'file', 120_000)); // stale
    engine.ingest(event('d', 'invented-by-an-event')); // counted, not as a new label
    engine.ingest(event('d', 'invented-by-an-event'));
    // The bus holds one event: with nothing consuming it, the next ones are refused and counted.
    expect(engine.bus.offer(event('e', 'loki'))).toBe(true);
    expect(engine.bus.offer(event('f', 'loki'))).toBe(false);
    expect(engine.bus.offer(event('g', 'file'))).toBe(false);

    const series = parseMetrics(await metrics.registry.metrics());
    const bySource = (name: string) => Object.fromEntries((series.get(name) ?? []).map((sample) => [sample.labels.source, sample.value]));
    expect(bySource('fish_events_deduplicated_total')).toEqual({ loki: 2, file: 1, other: 1 });
    expect(bySource('fish_events_stale_total')).toEqual({ loki: 0, file: 1, other: 0 });
    expect(bySource('fish_events_dropped_total')).toEqual({ loki: 1, file: 1, other: 0 });
    expect(engine.stats()).toMatchObject({ duplicates: 4, stale: 1, bus: { dropped: 2 } });
  });

  it('has the configured sources at 0 from the start, and `other` only once an event was counted there', async () => {
    const metrics = createFishMetrics({ version: 'test' });
    const engine = new FishEngine({
      catalog: () => catalog,
      sources: [],
      audit: createMemoryAuditStore(),
      notifier,
      executor,
      signer: new ApprovalSigner(ApprovalSigner.generateSecret()),
      publicUrl: 'https://fish.test',
      observer: fishEngineObserver(metrics, ['loki', 'file']),
    });
    const event = (id: string, source: string): ObservedEvent => ({ id, kind: 'log', source, time: Date.now(), host: 'penny', service: 'web', level: 'info', message: 'GET / 200', labels: {} });
    const bySource = async (name: string) => Object.fromEntries((parseMetrics(await metrics.registry.metrics()).get(name) ?? []).map((sample) => [sample.labels.source, sample.value]));
    expect(await bySource('fish_events_received_total')).toEqual({ loki: 0, file: 0 });
    engine.ingest(event('a', 'loki'));
    engine.ingest(event('a', 'loki'));
    expect(await bySource('fish_events_deduplicated_total')).toEqual({ loki: 1, file: 0 });
    engine.ingest(event('b', 'elsewhere'));
    engine.ingest(event('b', 'elsewhere'));
    for (const name of ['fish_events_received_total', 'fish_events_dropped_total', 'fish_events_stale_total']) expect(await bySource(name)).toEqual({ loki: 0, file: 0, other: 0 });
    expect(await bySource('fish_events_deduplicated_total')).toEqual({ loki: 1, file: 0, other: 1 });
  });

  it('counts received events per source as the source pumps read them, with no observer call per event', async () => {
    const metrics = createFishMetrics({ version: 'test' });
    const observer = fishEngineObserver(metrics, ['loki', 'file']);
    expect(observer.count).toBeUndefined();
    const event = (id: string, source: string): ObservedEvent => ({ id, kind: 'log', source, time: Date.now(), host: 'penny', service: 'web', level: 'info', message: 'GET / 200', labels: {} });
    const source = (name: string, count: number) => ({
      specificationVersion: 'v1' as const,
      name,
      async *events() {
        for (let index = 0; index < count; index++) yield event(`${name}-${index}`, name);
      },
    });
    const engine = new FishEngine({
      catalog: () => catalog,
      sources: [source('loki', 3), source('file', 2)],
      audit: createMemoryAuditStore(),
      notifier,
      executor,
      signer: new ApprovalSigner(ApprovalSigner.generateSecret()),
      publicUrl: 'https://fish.test',
      observer,
    });
    await engine.start();
    for (let wait = 0; wait < 200 && engine.stats().events < 5; wait++) await new Promise((resolve) => setTimeout(resolve, 5));
    await engine.stop({ graceMs: 0 });
    const received = Object.fromEntries((parseMetrics(await metrics.registry.metrics()).get('fish_events_received_total') ?? []).map((sample) => [sample.labels.source, sample.value]));
    expect(received).toEqual({ loki: 3, file: 2 });
  });
});
