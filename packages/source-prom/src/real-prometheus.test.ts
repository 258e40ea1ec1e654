import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalSigner, FishEngine, PatternSchema, ObservedEventSchema, createMemoryAuditStore, type CatalogSnapshot, type ObservedEvent, type Source } from '@fish-sre/core';
import { haveRealPrometheus, startMetricsTarget, startRealAlertmanager, startRealPrometheus, testSource, type RealProcess } from '@fish-sre/testkit';
import { createAlertmanagerSource, createPrometheusSource, type AlertmanagerSource } from './index.js';

// Real Prometheus and Alertmanager from Debian (apt-get install prometheus prometheus-alertmanager).
if (!haveRealPrometheus) throw new Error('Prometheus/Alertmanager binaries missing: apt-get install -y prometheus prometheus-alertmanager');

const TOKEN = 'test-token-0123456789abcdef';
let target: Awaited<ReturnType<typeof startMetricsTarget>>;
let prometheus: RealProcess;
let alertmanager: RealProcess;
let receiver: AlertmanagerSource;

function catalogOf(signals: Array<{ query: string; op: '>' | '>=' | '<' | '<=' | '==' | '!='; threshold: number; for?: string }>): CatalogSnapshot {
  const pattern = PatternSchema.parse({
    id: 'metric-test',
    title: 'metric test',
    required_signals: signals.map((metric, index) => ({ id: `s${index}`, metric })),
    target_host: '$event_host',
    diagnosis: 'test only',
    samples: { match: ['x'] },
  });
  return { patterns: [pattern], scriptsDir: '/nonexistent', loadedFrom: 'test', loadedAt: 0, digest: 'x' };
}

beforeAll(async () => {
  target = await startMetricsTarget();
  target.set('fish_test_value{disk="sda"}', '10');
  target.set('fish_test_value{disk="sdb"}', 'NaN');
  target.set('fish_test_value{disk="sdc"}', '+Inf');
  receiver = createAlertmanagerSource({ bearerToken: TOKEN, listen: { host: '127.0.0.1', port: 0 } });
  const { url } = await receiver.start();
  alertmanager = await startRealAlertmanager({ webhookUrl: `${url}/alertmanager`, bearerToken: TOKEN });
  prometheus = await startRealPrometheus({
    job: 'fishtest',
    target: target.address,
    alertmanager: alertmanager.url,
    rules: `groups:
  - name: fish
    interval: 1s
    rules:
      - alert: FishTestHigh
        expr: fish_test_value{disk="sda"} > 50
        for: 1s
        labels:
          severity: critical
        annotations:
          summary: "value high on {{ $labels.instance }}"
          description: "value is {{ $value }}"
`,
  });
  // Wait (bounded) for the first scrape, so queries see the target.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent('fish_test_value')}`);
    const json = (await response.json()) as { data: { result: unknown[] } };
    if (json.data.result.length >= 3) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await alertmanager?.stop();
  await receiver?.close?.();
  await target?.close();
});

function consume(source: Source) {
  const controller = new AbortController();
  const events: ObservedEvent[] = [];
  const done = (async () => {
    for await (const event of source.events(controller.signal)) events.push(event);
  })();
  const waitFor = async (predicate: () => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    return predicate();
  };
  const stop = async () => {
    controller.abort();
    await done;
    await source.close?.();
  };
  return { events, waitFor, stop };
}

describe('Prometheus source against a real Prometheus', () => {
  it('emits per series once the threshold holds, honours for:, skips NaN, keeps +Inf visible, re-reads the catalog', async () => {
    target.set('fish_test_value{disk="sda"}', '10');
    let catalog = catalogOf([
      { query: 'fish_test_value{disk="sda"}', op: '>', threshold: 50 },
      { query: 'fish_test_value{disk="sda"}', op: '>', threshold: 50, for: '2s' },
      { query: 'fish_test_value{disk="sdb"}', op: '!=', threshold: 0 },
    ]);
    const source = createPrometheusSource({ url: prometheus.url, interval: '250ms', catalog: () => catalog });
    const { events, waitFor, stop } = consume(source);
    try {
      expect(await waitFor(() => (source.health!().counters.polls ?? 0) >= 4)).toBe(true);
      expect(events).toEqual([]); // 10 is not > 50, and NaN != 0 is no observation
      expect(source.health!().state).toBe('connected');
      target.set('fish_test_value{disk="sda"}', '80');
      expect(await waitFor(() => events.length >= 2)).toBe(true);
      const [immediate, held] = events as [ObservedEvent, ObservedEvent];
      expect(immediate).toMatchObject({
        kind: 'metric',
        source: 'prometheus',
        host: '127.0.0.1',
        service: 'fishtest',
        metric: { name: 'fish_test_value{disk="sda"}', value: 80 },
        labels: { __name__: 'fish_test_value', disk: 'sda', job: 'fishtest' },
      });
      expect(immediate.message).toContain('= 80 (> 50)');
      expect(held.message).toContain('(> 50 for 2s)');
      expect(held.time - immediate.time).toBeGreaterThanOrEqual(2000);
      for (const event of events) expect(ObservedEventSchema.safeParse(event).success).toBe(true);
      // Still holding: no new event for the same episode.
      const polls = source.health!().counters.polls!;
      await waitFor(() => source.health!().counters.polls! >= polls + 3);
      expect(events).toHaveLength(2);
      // Hot reload: a new signal appears in the catalog.
      catalog = catalogOf([{ query: 'fish_test_value{disk="sdc"}', op: '>', threshold: 1e9 }]);
      expect(await waitFor(() => events.length >= 3)).toBe(true);
      expect(events[2]).toMatchObject({ metric: { value: Number.MAX_VALUE }, labels: { disk: 'sdc', __value__: '+Inf' } });
      expect(events[2]!.message).toContain('= +Inf');
      expect(source.health!().counters.non_finite_values).toBeGreaterThanOrEqual(1);
    } finally {
      await stop();
    }
  });

  it('reports a bad query with Prometheus’s own error, and keeps polling the others', async () => {
    target.set('fish_test_value{disk="sda"}', '80');
    const source = createPrometheusSource({
      url: prometheus.url,
      interval: '250ms',
      catalog: () =>
        catalogOf([
          { query: 'fish_test_value{disk="sda"', op: '>', threshold: 1 },
          { query: 'fish_test_value{disk="sda"}', op: '>', threshold: 1 },
        ]),
    });
    const { events, waitFor, stop } = consume(source);
    try {
      expect(await waitFor(() => events.length >= 1 && (source.health!().counters.query_errors ?? 0) >= 1)).toBe(true);
      expect(source.health!().detail).toMatch(/1 of 2 queries failed: query "fish_test_value\{disk=\\"sda\\"" at http:\/\/127\.0\.0\.1:\d+ failed \(HTTP 400, bad_data\): .*parse error/);
      expect(await source.check!()).toEqual({ ok: true, detail: `Prometheus at ${prometheus.url} answers queries` });
    } finally {
      await stop();
    }
  });
});

describe('real alert rules firing into a real Alertmanager, posting to the receiver', () => {
  it('delivers firing then resolved alerts with stable, distinct ids', async () => {
    const { events, waitFor, stop } = consume({ ...receiver, close: undefined } as Source);
    try {
      target.set('fish_test_value{disk="sda"}', '90');
      expect(await waitFor(() => events.some((event) => event.alertStatus === 'firing'), 30_000)).toBe(true);
      const firing = events.find((event) => event.alertStatus === 'firing')!;
      expect(firing).toMatchObject({
        kind: 'alert',
        source: 'alertmanager',
        level: 'critical',
        host: '127.0.0.1',
        service: 'fishtest',
        labels: { alertname: 'FishTestHigh', severity: 'critical', disk: 'sda' },
      });
      expect(firing.message).toMatch(/^\[FIRING\] FishTestHigh: value high on 127\.0\.0\.1:\d+ - value is (80|90)$/);
      target.set('fish_test_value{disk="sda"}', '5');
      expect(await waitFor(() => events.some((event) => event.alertStatus === 'resolved'), 30_000)).toBe(true);
      const resolved = events.find((event) => event.alertStatus === 'resolved')!;
      expect(resolved.id).not.toBe(firing.id);
      expect(resolved.message).toMatch(/^\[RESOLVED\] FishTestHigh/);
      for (const event of events) expect(ObservedEventSchema.safeParse(event).success).toBe(true);
      expect(receiver.health!().counters.unauthorized).toBe(0);
    } finally {
      await stop();
    }
  }, 60_000);
});

let conformanceRun = 0;
testSource({
  name: 'prometheus (real Prometheus)',
  count: 5,
  deliveryTimeoutMs: 20_000,
  settleMs: 1500,
  createSource: () => createPrometheusSource({ url: prometheus.url, interval: '250ms', catalog: () => catalogOf([{ query: 'fish_conformance > 0', op: '>', threshold: 0 }]) }),
  produce: async ({ count }) => {
    const run = conformanceRun++;
    const markers = Array.from({ length: count }, (_, index) => `m${run}x${index}x`);
    for (const marker of markers) target.set(`fish_conformance{marker="${marker}"}`, '1');
    return markers;
  },
  matches: (event, marker) => event.labels.marker === marker,
});

describe('metric for: end to end (real Prometheus -> source-prom -> engine -> proposal)', () => {
  it('opens one incident, with a proposal, on the first episode the source reports after for:', async () => {
    target.set('fish_test_value{disk="sdd"}', '10');
    const pattern = PatternSchema.parse({
      id: 'disk-sdd-full',
      title: 'sdd full',
      required_signals: [{ id: 'full', metric: { query: 'fish_test_value{disk="sdd"}', op: '>', threshold: 90, for: '2s' } }],
      target_host: 'penny',
      fix: { script: 'fix.sh' },
      verify: { script: 'verify.sh' },
      samples: { match: [{ message: 'x', metric: { name: 'fish_test_value{disk="sdd"}', value: 95 } }] },
    });
    const catalog: CatalogSnapshot = { patterns: [pattern], scriptsDir: '/nonexistent', loadedFrom: 'test', loadedAt: 0, digest: 'x' };
    const source = createPrometheusSource({ url: prometheus.url, interval: '250ms', catalog: () => catalog });
    const proposals: unknown[] = [];
    const engine = new FishEngine({
      catalog: () => catalog,
      sources: [source],
      audit: createMemoryAuditStore(),
      notifier: { specificationVersion: 'v1', name: 'test', propose: async () => ({ id: 'n', channel: 'test' }), notify: async () => ({ id: 'n', channel: 'test' }) },
      executor: { specificationVersion: 'v1', name: 'test', hosts: () => ['penny'], run: async () => ({ exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false }) },
      signer: new ApprovalSigner('c'.repeat(32)),
      publicUrl: 'http://127.0.0.1:8080',
      targets: ['penny'],
    });
    engine.on('proposal', (proposal) => proposals.push(proposal));
    await engine.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      target.set('fish_test_value{disk="sdd"}', '95');
      const deadline = Date.now() + 30_000;
      while (proposals.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(source.health!().counters.events_emitted).toBe(1);
      expect(proposals).toHaveLength(1);
      expect(engine.stats().incidents).toBe(1);
      // The condition keeps holding: still one episode, one incident.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(engine.stats().incidents).toBe(1);
    } finally {
      target.set('fish_test_value{disk="sdd"}', '10');
      await engine.stop();
      await source.close?.();
    }
  }, 60_000);
});
