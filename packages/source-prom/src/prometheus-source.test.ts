import { describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, ManualClock, PatternSchema, type CatalogSnapshot, type ObservedEvent } from '@fish-sre/core';
import { compare, createPrometheusSource, parseSampleValue, prometheusInstantQuery, prometheusSourcePlugin } from './index.js';

function catalogOf(signals: Array<{ query: string; op: '>' | '<' | '!='; threshold: number; for?: string }>): CatalogSnapshot {
  const pattern = PatternSchema.parse({
    id: 'unit-test',
    title: 'unit',
    required_signals: signals.map((metric, index) => ({ id: `s${index}`, metric })),
    target_host: 'penny',
    diagnosis: 'test only',
    samples: { match: ['x'] },
  });
  return { patterns: [pattern], scriptsDir: '/x', loadedFrom: 'test', loadedAt: 0, digest: 'x' };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const vector = (value: string, metric: Record<string, string> = { __name__: 'disk_used', instance: 'penny:9100', job: 'node' }) =>
  json({ status: 'success', data: { resultType: 'vector', result: [{ metric, value: [1724339000.781, value] }] } });

describe('Prometheus value strings and comparisons', () => {
  it('parses NaN, +Inf and -Inf', () => {
    expect(parseSampleValue('NaN')).toBeNaN();
    expect(parseSampleValue('+Inf')).toBe(Number.POSITIVE_INFINITY);
    expect(parseSampleValue('-Inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(parseSampleValue('1e+00')).toBe(1);
  });
  it('never lets NaN satisfy a condition', () => {
    for (const op of ['>', '>=', '<', '<=', '==', '!='] as const) expect(compare(Number.NaN, op, 0)).toBe(false);
    expect(compare(Number.NEGATIVE_INFINITY, '<', -1e300)).toBe(true);
  });
});

describe('prometheusInstantQuery', () => {
  const base = { baseUrl: 'http://prom', query: 'up', headers: {}, timeoutMs: 1000 };
  it('POSTs a form and returns vector series with warnings', async () => {
    let seen: { url: string; init: RequestInit } | undefined;
    const result = await prometheusInstantQuery({
      ...base,
      fetch: async (url, init) => {
        seen = { url: String(url), init: init! };
        return json({
          status: 'success',
          data: { resultType: 'vector', result: [{ metric: { job: 'a' }, value: [1, '+Inf'] }] },
          warnings: ['PromQL warning: encountered a mix of histograms and floats'],
        });
      },
    });
    expect(seen!.url).toBe('http://prom/api/v1/query');
    expect(seen!.init.method).toBe('POST');
    expect((seen!.init.headers as Record<string, string>)['Content-Type']).toBe('application/x-www-form-urlencoded');
    expect(String(seen!.init.body)).toBe('query=up&timeout=1s');
    expect(result.series).toEqual([{ labels: { job: 'a' }, value: Number.POSITIVE_INFINITY, raw: '+Inf', time: 1000 }]);
    expect(result.warnings).toEqual(['PromQL warning: encountered a mix of histograms and floats']);
  });
  it('turns the error envelope into a FishError with Prometheus’s message', async () => {
    const error = await prometheusInstantQuery({
      ...base,
      fetch: async () => json({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:3: parse error: unexpected end of input' }, 400),
    }).catch((caught: unknown) => caught);
    expect(FishError.hasCode(error, FishErrorCode.SOURCE_PROTOCOL)).toBe(true);
    expect((error as FishError).message).toBe('[fish-sre] [prometheus] query "up" at http://prom failed (HTTP 400, bad_data): invalid parameter "query": 1:3: parse error: unexpected end of input');
    expect((error as FishError).isRetryable).toBe(false);
    const timeout = await prometheusInstantQuery({ ...base, fetch: async () => json({ status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' }, 503) }).catch(
      (caught: unknown) => caught,
    );
    expect((timeout as FishError).isRetryable).toBe(true);
  });
  it('explains a non-JSON proxy answer', async () => {
    const error = await prometheusInstantQuery({ ...base, fetch: async () => new Response('<html><body>502 Bad Gateway</body></html>', { status: 502 }) }).catch((caught: unknown) => caught);
    expect(FishError.hasCode(error, FishErrorCode.SOURCE_UNREACHABLE)).toBe(true);
    expect((error as Error).message).toContain('answered HTTP 502 with something that is not Prometheus JSON: <html><body>502 Bad Gateway');
  });
  it('reads a scalar result', async () => {
    const result = await prometheusInstantQuery({ ...base, fetch: async () => json({ status: 'success', data: { resultType: 'scalar', result: [1724339000, 'NaN'] } }) });
    expect(result.series[0]!.value).toBeNaN();
  });
});

describe('createPrometheusSource for: semantics (manual clock)', () => {
  it('emits once the condition held for the duration across polls, once per episode', async () => {
    const clock = new ManualClock(1_000_000);
    const values = ['80', '80', '80', '80', '80', '10', '80', '80', '80', '80', ...Array(50).fill('80')];
    let calls = 0;
    const source = createPrometheusSource({
      url: 'http://prom',
      interval: '5ms',
      clock,
      catalog: () => catalogOf([{ query: 'disk_used', op: '>', threshold: 50, for: '3s' }]),
      fetch: async () => {
        clock.advance(1000);
        return vector(values[calls++] ?? '80');
      },
    });
    const controller = new AbortController();
    const events: Array<ObservedEvent & { call: number }> = [];
    for await (const event of source.events(controller.signal)) {
      events.push({ ...event, call: calls });
      if (events.length === 2) break;
    }
    // Held at calls 1..4 (3 s after the first) -> emitted after call 4; dropped at 6; held again 7..10.
    expect(events.map((event) => event.call)).toEqual([4, 10]);
    // The event says how long the condition held: the matcher compares it with the signal's for: (and nothing waits again).
    expect(events[0]).toMatchObject({ time: 1_004_000, host: 'penny', service: 'node', metric: { name: 'disk_used', value: 80, heldForMs: 3000 }, kind: 'metric' });
    expect(events[0]!.id).not.toBe(events[1]!.id);
    expect(source.health!().counters.events_emitted).toBe(2);
  });

  it('counts warnings and query errors, names the failing query in health', async () => {
    let calls = 0;
    const source = createPrometheusSource({
      url: 'http://prom/',
      interval: '5ms',
      catalog: () => catalogOf([{ query: 'rate(x[5m])', op: '>', threshold: 1 }]),
      fetch: async () => {
        calls++;
        return calls === 1
          ? json({ status: 'success', data: { resultType: 'vector', result: [] }, warnings: ['PromQL info: metric might not be a counter'] })
          : new Response('upstream connect error', { status: 503 });
      },
    });
    const controller = new AbortController();
    const iterating = (async () => {
      for await (const _event of source.events(controller.signal)) void _event;
    })();
    while (calls < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await iterating;
    const health = source.health!();
    expect(health.counters.warnings).toBe(1);
    expect(health.counters.query_errors).toBeGreaterThanOrEqual(1);
    expect(source.health!().state).toBe('down');
  });

  it('descriptor validates options', () => {
    expect(prometheusSourcePlugin).toMatchObject({ kind: 'source', type: 'prometheus', specificationVersion: 'v1' });
    expect(prometheusSourcePlugin.optionsSchema.safeParse({ url: 'http://prom:9090', interval: '15s' }).success).toBe(true);
    expect(prometheusSourcePlugin.optionsSchema.safeParse({ url: 'http://prom:9090', intervall: '15s' }).success).toBe(false);
    expect(() => createPrometheusSource({ url: 'nope', catalog: () => catalogOf([{ query: 'x', op: '>', threshold: 1 }]) })).toThrow(/\[fish-sre\] \[prometheus\] invalid options: url/);
  });
});
