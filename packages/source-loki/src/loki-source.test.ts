import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import {
  ApprovalSigner,
  FishEngine,
  FishError,
  FishErrorCode,
  ObservedEventSchema,
  PatternSchema,
  createMemoryAuditStore,
  createMemoryLogger,
  createMemoryStateStore,
  type CatalogSnapshot,
  type ObservedEvent,
  type Source,
} from '@fish-sre/core';
import { startLokiServer, testSource, type LokiServer } from '@fish-sre/testkit';
import { createLokiSource, lokiEventId, normaliseLevel, type LokiSourceOptions } from './index.js';

const TENANT = 'homelab';
let server: LokiServer;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startLokiServer({ tailMaxDurationMs: 60_000, pingIntervalMs: 200 });
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  server.setMaxConcurrentTails(10);
  server.setTailMaxDurationMs(60_000);
});

const fast = { initialDelay: '20ms', maxDelay: '200ms', configErrorDelay: '300ms' };

function makeSource(overrides: Partial<LokiSourceOptions> = {}): Source {
  const source = createLokiSource({ url: server.url, tenant: TENANT, query: '{app="api"}', reconnect: fast, ...overrides });
  cleanups.push(() => source.close?.());
  return source;
}

/** Pushes through Loki's JSON push endpoint, as Alloy/Promtail would. */
async function push(values: Array<[bigint, string]>, labels: Record<string, string> = { app: 'api', host: 'penny' }, tenant = TENANT) {
  const response = await fetch(`${server.url}/loki/api/v1/push`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Scope-OrgID': tenant },
    body: JSON.stringify({ streams: [{ stream: labels, values: values.map(([ts, line]) => [ts.toString(), line]) }] }),
  });
  expect(response.status).toBe(204);
}

let tsCounter = 0n;
/** A timestamp near now with non-zero nanosecond digits (beyond Number precision). */
const nextTs = () => BigInt(Date.now()) * 1_000_000n + 123_457n + tsCounter++;

function consume(source: Source) {
  const controller = new AbortController();
  const events: ObservedEvent[] = [];
  const done = (async () => {
    for await (const event of source.events(controller.signal)) events.push(event);
  })();
  cleanups.push(async () => {
    controller.abort();
    await done;
  });
  const waitFor = async (predicate: () => boolean, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return predicate();
  };
  return { events, done, controller, waitFor };
}

const lines = (events: ObservedEvent[]) => events.filter((event) => event.service !== 'loki').map((event) => event.message);

describe('createLokiSource options', () => {
  it('refuses delayFor above 5 with Loki’s own words', () => {
    expect(() => createLokiSource({ url: 'http://127.0.0.1:1', query: '{a="b"}', delayFor: 6 })).toThrow(/delay_for can't be greater than 5/);
    try {
      createLokiSource({ url: 'ftp://x', query: '' });
    } catch (error) {
      expect(FishError.hasCode(error, FishErrorCode.PLUGIN_OPTIONS_INVALID)).toBe(true);
      expect((error as Error).message).toMatch(/^\[fish-sre\] \[loki\] invalid options: url: .*query/);
    }
  });

  it('normalises level spellings', () => {
    expect(['err', 'ERROR', 'warning', 'WARN', 'crit', 'fatal', 'panic', 'info', 'notice', 'debug', 'trace', 'what'].map(normaliseLevel)).toEqual([
      'error',
      'error',
      'warn',
      'warn',
      'critical',
      'critical',
      'critical',
      'info',
      'info',
      'debug',
      'debug',
      'unknown',
    ]);
    // A level label is whatever the log shipper put there: names Object.prototype has are not levels.
    expect(['constructor', '__proto__', 'toString', 'hasOwnProperty'].map(normaliseLevel)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
  });

  it('derives a stable id from tenant, labels (any order), timestamp and line', () => {
    const a = lokiEventId('t', { a: '1', b: '2' }, '1724339000123456789', 'x');
    expect(lokiEventId('t', { b: '2', a: '1' }, '1724339000123456789', 'x')).toBe(a);
    expect(lokiEventId('t', { a: '1', b: '2' }, '1724339000123456790', 'x')).not.toBe(a);
    expect(lokiEventId('u', { a: '1', b: '2' }, '1724339000123456789', 'x')).not.toBe(a);
  });
});

describe('Loki tail against the Loki test server', () => {
  it('delivers lines across hourly 1011 closes and 1006 drops with no loss and no duplicate, ns exact', async () => {
    server.setTailMaxDurationMs(200); // "the hourly close", in a fraction of a second
    const source = makeSource();
    const { events, waitFor } = consume(source);
    await waitFor(() => source.health!().state === 'connected');
    const pushed: Array<[bigint, string]> = [];
    for (let batch = 0; batch < 40; batch++) {
      const values: Array<[bigint, string]> = [];
      for (let index = 0; index < 10; index++) {
        // Every batch has two lines sharing one nanosecond: a close between them must lose neither.
        const ts = index === 5 ? values[4]![0] : nextTs();
        values.push([ts, `line ${batch * 10 + index} <&> "quoted" é`]);
      }
      pushed.push(...values);
      await push(values);
      if (batch % 7 === 3) server.terminateTails(); // abrupt drop: 1006 on the client
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    expect(await waitFor(() => lines(events).length >= pushed.length)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lines(events)).toEqual(pushed.map(([, line]) => line));
    expect(events.map((event) => event.timeNs)).toEqual(pushed.map(([ts]) => ts.toString()));
    const counters = source.health!().counters;
    expect(counters.closes_max_duration).toBeGreaterThanOrEqual(2);
    expect(counters.closes_abnormal).toBeGreaterThanOrEqual(3);
    expect(counters.reconnects).toBeGreaterThanOrEqual(5);
    expect(counters.events_emitted).toBe(pushed.length);
    for (const event of events) expect(ObservedEventSchema.safeParse(event).success).toBe(true);
    expect(events[0]).toMatchObject({ kind: 'log', source: 'loki', host: 'penny', labels: { app: 'api', host: 'penny' } });
    expect(events[0]!.time).toBe(Number(pushed[0]![0] / 1_000_000n));
  });

  it('back-fills with query_range pages, keeping lines that share a nanosecond across page boundaries', async () => {
    const base = BigInt(Date.now() - 10_000) * 1_000_000n + 999_999n;
    // 13 lines, timestamps in groups of three so that pages of 5 cut through a group.
    const values: Array<[bigint, string]> = [];
    for (let index = 0; index < 13; index++) values.push([base + BigInt(Math.floor(index / 3)), `same-ns ${index}`]);
    await push(values, { app: 'pages', host: 'penny' });
    const source = makeSource({ query: '{app="pages"}', limit: 5, lookback: '1m' });
    const { events, waitFor } = consume(source);
    expect(await waitFor(() => events.length >= 13)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events.map((event) => event.message).sort()).toEqual(values.map(([, line]) => line).sort());
    expect(source.health!().counters.backfilled_lines).toBe(13);
    const ranges = server.requests.filter((request) => request.path.includes('query_range') && request.path.includes('pages'));
    expect(ranges.length).toBeGreaterThanOrEqual(4);
    expect(ranges.every((request) => request.path.includes('direction=forward') && request.tenant === TENANT)).toBe(true);
  });

  for (const resumeOverlap of ['0s', '5s']) {
    it(`resumeOverlap ${resumeOverlap}: an older line of another stream, pushed while disconnected, is ${resumeOverlap === '0s' ? 'missed (documented limit)' : 'delivered once'}`, async () => {
      const app = `overlap-${resumeOverlap}`;
      const source = makeSource({ query: `{app="${app}"}`, resumeOverlap });
      const { events, waitFor } = consume(source);
      await waitFor(() => source.health!().state === 'connected');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const older = nextTs();
      const newer = older + 1_000_000n; // 1 ms later
      await push([[newer, 'newer line']], { app, stream: 'a' });
      expect(await waitFor(() => events.length === 1)).toBe(true);
      server.setMaxConcurrentTails(0);
      server.terminateTails();
      await waitFor(() => (source.health!().counters.closes_concurrency_limit ?? 0) >= 1);
      await push([[older, 'older line of another stream']], { app, stream: 'b' });
      server.setMaxConcurrentTails(10);
      await push([[newer + 1n, 'after reconnect']], { app, stream: 'a' });
      expect(await waitFor(() => lines(events).includes('after reconnect'))).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const expected = resumeOverlap === '0s' ? ['newer line', 'after reconnect'] : ['newer line', 'older line of another stream', 'after reconnect'];
      expect(lines(events).sort()).toEqual(expected.sort());
    });
  }

  it('recovers from the concurrency-limit close', async () => {
    server.setMaxConcurrentTails(0);
    const source = makeSource();
    const { events, waitFor } = consume(source);
    expect(await waitFor(() => (source.health!().counters.closes_concurrency_limit ?? 0) >= 2)).toBe(true);
    expect(source.health!().detail).toContain('max concurrent tail requests limit exceeded, count > limit (1 > 0)');
    expect(source.health!().state).toBe('reconnecting');
    server.setMaxConcurrentTails(10);
    const ts = nextTs();
    await push([[ts, 'after the limit']]);
    expect(await waitFor(() => lines(events).includes('after the limit'))).toBe(true);
    expect(await waitFor(() => source.health!().state === 'connected')).toBe(true);
  });

  for (const recoverDropped of [true, false]) {
    it(`counts dropped_entries, says so in a warn event${recoverDropped ? ' and fetches the dropped lines again' : ''}`, async () => {
      const app = `drops-${recoverDropped}`;
      // Lines one at a time (no multi-line joining), so the last one is not held waiting for a continuation.
      const source = makeSource({ query: `{app="${app}"}`, recoverDropped, multiline: false });
      const { events, waitFor } = consume(source);
      await waitFor(() => source.health!().state === 'connected');
      await new Promise((resolve) => setTimeout(resolve, 100));
      server.dropNextTailEntries(3);
      const first: Array<[bigint, string]> = [1, 2, 3, 4].map((index) => [nextTs(), `drop-test ${index}`]);
      await push(first, { app });
      await push([[nextTs(), 'drop-test 5']], { app });
      expect(await waitFor(() => events.some((event) => event.service === 'loki'))).toBe(true);
      const warning = events.find((event) => event.service === 'loki')!;
      expect(warning).toMatchObject({ kind: 'log', level: 'warn', service: 'loki' });
      expect(warning.message).toMatch(/^Loki dropped 3 log lines of the tail/);
      expect(source.health!().counters.dropped_entries).toBe(3);
      if (recoverDropped) {
        expect(await waitFor(() => lines(events).length >= 5)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(lines(events).sort()).toEqual(['drop-test 1', 'drop-test 2', 'drop-test 3', 'drop-test 4', 'drop-test 5']);
        expect(source.health!().counters.dropped_recovered).toBe(3);
      } else {
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(lines(events)).toEqual(['drop-test 4', 'drop-test 5']);
        expect(warning.message).toContain('they were not delivered to fish');
      }
    });
  }

  it('reports a 400 handshake (bad query) clearly and retries slowly', async () => {
    const source = makeSource({ query: 'app="api"', reconnect: { ...fast, configErrorDelay: '2s' } });
    const { waitFor } = consume(source);
    expect(await waitFor(() => (source.health!().counters.config_errors ?? 0) >= 1)).toBe(true);
    const health = source.health!();
    expect(health.detail).toMatch(/Loki refused the tail request with HTTP 400: parse error at line 1, col 1: syntax error/);
    expect(health.detail).toMatch(/check the LogQL `query`/);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(source.health!().counters.config_errors).toBe(1); // configErrorDelay (2 s) not elapsed yet
  });

  it('reports a missing tenant (401 no org id)', async () => {
    const source = createLokiSource({ url: server.url, query: '{app="api"}', reconnect: fast });
    cleanups.push(() => source.close?.());
    const { waitFor } = consume(source);
    expect(await waitFor(() => (source.health!().counters.config_errors ?? 0) >= 1)).toBe(true);
    expect(source.health!().detail).toMatch(/HTTP 401: no org id; check `tenant`/);
    const check = await source.check!();
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/HTTP 401: no org id/);
  });

  it('maps labels to host, service and level, and merges categorize-labels metadata', async () => {
    const source = makeSource({ query: '{app="mapped"}', categorizeLabels: true });
    const { events, waitFor } = consume(source);
    await waitFor(() => source.health!().state === 'connected');
    const response = await fetch(`${server.url}/loki/api/v1/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Scope-OrgID': TENANT },
      body: JSON.stringify({
        streams: [
          { stream: { app: 'mapped', hostname: 'lancelot', compose_service: 'homepage', detected_level: 'ERR' }, values: [[nextTs().toString(), 'boom', { trace_id: 'abc' }]] },
          { stream: { app: 'mapped', host: 'penny', container: 'beszel', level: 'warning' }, values: [[nextTs().toString(), 'hmm']] },
        ],
      }),
    });
    expect(response.status).toBe(204);
    expect(await waitFor(() => events.length >= 2)).toBe(true);
    expect(events[0]).toMatchObject({ host: 'lancelot', service: 'homepage', level: 'error', labels: { app: 'mapped', hostname: 'lancelot' }, lineLabels: { trace_id: 'abc' } });
    expect(events[0]!.labels['trace_id']).toBeUndefined();
    expect(events[1]).toMatchObject({ host: 'penny', service: 'beszel', level: 'warn' });
  });

  it("takes host and service from stream labels only: a host= in the line's metadata never chooses the target", async () => {
    const source = makeSource({ query: '{app="hostile"}', categorizeLabels: true });
    const { events, waitFor } = consume(source);
    await waitFor(() => source.health!().state === 'connected');
    const response = await fetch(`${server.url}/loki/api/v1/push`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Scope-OrgID': TENANT },
      body: JSON.stringify({
        streams: [
          // The stream names its host with `hostname`; the line brings `host` and `container` of its own.
          { stream: { app: 'hostile', hostname: 'lancelot', compose_service: 'web' }, values: [[nextTs().toString(), 'host=penny container=db boom', { host: 'penny', container: 'db' }]] },
          // No host label on the stream at all: unknown, never the line's.
          { stream: { app: 'hostile' }, values: [[nextTs().toString(), 'host=penny boom', { host: 'penny', service_name: 'db' }]] },
        ],
      }),
    });
    expect(response.status).toBe(204);
    expect(await waitFor(() => events.length >= 2)).toBe(true);
    expect(events.map((event) => [event.host, event.service])).toEqual([
      ['lancelot', 'web'],
      ['unknown', 'unknown'],
    ]);
    // Still there as evidence, apart from the stream labels that matchers read.
    expect(events[0]!.labels).toEqual({ app: 'hostile', hostname: 'lancelot', compose_service: 'web' });
    expect(events[0]!.lineLabels).toEqual({ host: 'penny', container: 'db' });
  });

  it('refuses a query that parses lines unless Loki is asked to categorize labels', () => {
    for (const query of ['{app="a"} | json', '{app="a"} |= "x" | logfmt --strict', '{app="a"} | regexp `(?P<host>\\S+)`', '{app="a"} | label_format host=`{{.x}}`']) {
      expect(() => makeSource({ query, categorizeLabels: false })).toThrow(/categorizeLabels: the query takes labels out of the lines .* categorizeLabels must stay true/);
      expect(() => makeSource({ query })).not.toThrow();
    }
    expect(() => makeSource({ query: '{app="a"} |= "json"', categorizeLabels: false })).not.toThrow();
  });

  it('a JSON line saying "host":"otherhost" parsed by | json: never the host, never a stream label (tail and query_range)', async () => {
    const source = makeSource({ query: '{app="jsonapp"} | json', categorizeLabels: true, lookback: 60_000 });
    const before = nextTs();
    // First in the past (read back by query_range), then live (tail).
    await push([[before, JSON.stringify({ host: 'otherhost', service_name: 'db', level: 'error', msg: 'boom 1' })]], { app: 'jsonapp', compose_service: 'web' });
    const { events, waitFor } = consume(source);
    await waitFor(() => source.health!().state === 'connected');
    await push([[nextTs(), JSON.stringify({ host: 'otherhost', level: 'error', msg: 'boom 2', nested: { host: 'x' } })]], { app: 'jsonapp', host: 'penny', compose_service: 'web' });
    expect(await waitFor(() => events.length >= 2)).toBe(true);
    expect(events.map((event) => [event.host, event.service, event.level])).toEqual([
      ['unknown', 'web', 'error'],
      ['penny', 'web', 'error'],
    ]);
    expect(events[0]!.labels).toEqual({ app: 'jsonapp', compose_service: 'web' });
    expect(events[0]!.lineLabels).toEqual({ host: 'otherhost', service_name: 'db', level: 'error', msg: 'boom 1' });
    // A name the stream already has is suffixed by Loki: the stream's own label is untouched.
    expect(events[1]!.labels).toEqual({ app: 'jsonapp', host: 'penny', compose_service: 'web' });
    expect(events[1]!.lineLabels).toMatchObject({ host_extracted: 'otherhost', nested_host: 'x' });
  });

  it('a label parsed out of the line cannot satisfy a scoped labels: matcher (the engine on this source)', async () => {
    const pattern = (id: string, labels: Record<string, string>) =>
      PatternSchema.parse({ id, title: id, required_signals: [{ id: 'boom', log: { message: 'boom', labels } }], target_host: '$event_host', diagnosis: 'test only', samples: { match: ['x'] } });
    const catalog: CatalogSnapshot = {
      patterns: [pattern('scoped-by-line', { host: '^otherhost$' }), pattern('scoped-by-stream', { compose_service: '^web$' })],
      scriptsDir: '/nonexistent',
      loadedFrom: 'test',
      loadedAt: 0,
      digest: 'x',
    };
    const audit = createMemoryAuditStore();
    const engine = new FishEngine({
      catalog: () => catalog,
      sources: [makeSource({ query: '{app="scoped"} | json', categorizeLabels: true })],
      audit,
      notifier: { specificationVersion: 'v1', name: 'test', propose: async () => ({ id: 'n', channel: 'test' }), notify: async () => ({ id: 'n', channel: 'test' }) },
      executor: { specificationVersion: 'v1', name: 'test', hosts: () => ['penny', 'otherhost'], run: async () => ({ exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false }) },
      signer: new ApprovalSigner('e'.repeat(32)),
      publicUrl: 'http://127.0.0.1:8080',
    });
    await engine.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await push([[nextTs(), JSON.stringify({ host: 'otherhost', level: 'error', msg: 'boom' })]], { app: 'scoped', host: 'penny', compose_service: 'web' });
      const deadline = Date.now() + 15_000;
      while ((await audit.listIncidents()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const incidents = await audit.listIncidents();
      expect(incidents.map((incident) => [incident.patternId, incident.candidates, incident.host])).toEqual([['scoped-by-stream', ['scoped-by-stream'], 'penny']]);
    } finally {
      await engine.stop();
    }
  });

  it('trusts no label of a Loki that ignored categorize-labels (before 3.0): its stream mixes in the parsed ones', async () => {
    const old = await startLokiServer({ ignoreCategorizeLabels: true });
    cleanups.push(() => old.close());
    const source = createLokiSource({ url: old.url, tenant: TENANT, query: '{app="legacy"} | json', categorizeLabels: true, reconnect: { initialDelay: '50ms', maxDelay: '200ms' } });
    const { events, waitFor } = consume(source);
    await waitFor(() => source.health!().state === 'connected');
    old.push(TENANT, [{ ts: nextTs(), line: JSON.stringify({ host: 'otherhost', msg: 'boom' }), labels: { app: 'legacy', compose_service: 'web' } }]);
    expect(await waitFor(() => events.length >= 1)).toBe(true);
    expect(events[0]).toMatchObject({ host: 'unknown', service: 'unknown', labels: {}, lineLabels: { app: 'legacy', compose_service: 'web', host: 'otherhost', msg: 'boom' } });
    expect(source.health!().counters.uncategorized_responses).toBeGreaterThan(0);
  });

  it('applies back-pressure to a slow consumer instead of buffering without bound', async () => {
    const source = makeSource({ query: '{app="slow"}', bufferSize: 10 });
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const iterator = source.events(controller.signal)[Symbol.asyncIterator]();
    const firstPromise = iterator.next();
    const deadline = Date.now() + 10_000;
    while (source.health!().state !== 'connected' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pushed: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const values: Array<[bigint, string]> = [];
      for (let index = 0; index < 20; index++) values.push([nextTs(), `slow ${batch * 20 + index}`]);
      pushed.push(...values.map(([, line]) => line));
      await push(values, { app: 'slow' });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(source.health!().counters.backpressure_pauses).toBeGreaterThanOrEqual(1);
    const received = [(await firstPromise).value!.message];
    while (received.length < pushed.length) {
      const next = await iterator.next();
      received.push(next.value!.message);
    }
    expect(received).toEqual(pushed);
    controller.abort();
    expect((await iterator.next()).done).toBe(true);
  });

  it('check() says ready, or says what is wrong', async () => {
    expect(await makeSource().check!()).toEqual({ ok: true, detail: `Loki at ${server.url} is ready and ran the query for tenant ${TENANT}` });
    const down = await createLokiSource({ url: 'http://127.0.0.1:9', query: '{a="b"}' }).check!();
    expect(down.ok).toBe(false);
    expect(down.detail).toMatch(/query_range|cannot connect|ECONNREFUSED/);
  });

  it('check() quotes a query_range answer that is not JSON (an auth portal in front of Loki), without its credentials', async () => {
    const portal: typeof globalThis.fetch = async (input) =>
      String(input).endsWith('/ready') ? new Response('ready') : new Response('<html>Sign in again, session for bearer-s3cr3t expired</html>', { status: 200 });
    const source = createLokiSource({ url: 'http://127.0.0.1:9', query: '{a="b"}', auth: { type: 'bearer', token: 'bearer-s3cr3t' }, fetch: portal });
    const result = await source.check!();
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^query_range at http:\/\/127\.0\.0\.1:9 answered HTTP 200 with something that is not JSON: <html>Sign in again, session for .* expired<\/html>$/);
    expect(result.detail).not.toContain('bearer-s3cr3t');
  });

  it('keeps retrying when nothing listens (refused connection)', async () => {
    const placeholder = createServer();
    await new Promise<void>((resolve) => placeholder.listen(0, '127.0.0.1', resolve));
    const port = (placeholder.address() as AddressInfo).port;
    await new Promise<void>((resolve) => placeholder.close(() => resolve()));
    const source = makeSource({ url: `http://127.0.0.1:${port}` });
    const { waitFor } = consume(source);
    expect(await waitFor(() => (source.health!().counters.connect_failures ?? 0) >= 2)).toBe(true);
    expect(source.health!().detail).toMatch(/cannot connect to Loki at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});

describe('Loki behind an authenticating proxy', () => {
  it('sends basic or bearer credentials on the tail, query_range and check, and never logs them', async () => {
    const secured = await startLokiServer({ requireAuthorization: 'Bearer s3cret-token-value-123' });
    cleanups.push(() => secured.close());
    const logger = createMemoryLogger();
    const good = createLokiSource({ url: secured.url, tenant: TENANT, query: '{app="auth"}', auth: { type: 'bearer', token: 's3cret-token-value-123' }, reconnect: fast, logger });
    cleanups.push(() => good.close?.());
    const { events, waitFor } = consume(good);
    await waitFor(() => good.health!().state === 'connected');
    secured.push(TENANT, [{ ts: nextTs(), line: 'authorised line', labels: { app: 'auth' } }]);
    expect(await waitFor(() => events.length === 1)).toBe(true);
    expect((await good.check!()).ok).toBe(true);
    const bad = createLokiSource({ url: secured.url, tenant: TENANT, query: '{app="auth"}', auth: { type: 'basic', username: 'fish', password: 'wrong-password-456' }, reconnect: fast, logger });
    cleanups.push(() => bad.close?.());
    const second = consume(bad);
    expect(await second.waitFor(() => (bad.health!().counters.config_errors ?? 0) >= 1)).toBe(true);
    expect(bad.health!().detail).toMatch(/HTTP 401: Unauthorized; check `tenant`/);
    const everything = JSON.stringify(logger.lines) + JSON.stringify(bad.health!()) + JSON.stringify(await bad.check!());
    expect(everything).not.toContain('s3cret-token-value-123');
    expect(everything).not.toContain('wrong-password-456');
    expect(everything).not.toContain(Buffer.from('fish:wrong-password-456').toString('base64'));
  });
});

describe('Loki tail frames as Loki writes them (recorded shapes)', () => {
  const fixture = (file: string) => readFileSync(fileURLToPath(new URL(`../../testkit/src/servers/__fixtures__/loki/${file}`, import.meta.url)), 'utf8');

  it('reads one-stream-per-entry frames, dropped_entries and 3-element tuples', async () => {
    const http = createServer((request, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ status: 'success', data: { resultType: 'streams', result: [] } }));
    });
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (socket) => {
      socket.send(fixture('tail-frame.json'));
      socket.send(fixture('tail-frame-categorize-labels.json'));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          wss.close();
          http.closeAllConnections();
          http.close(() => resolve());
        }),
    );
    const source = createLokiSource({
      url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      query: '{app="api"}',
      reconnect: fast,
      lookback: '1000d',
      maxBackfill: '1000d',
      multiline: false,
    });
    cleanups.push(() => source.close?.());
    const { events, waitFor } = consume(source);
    expect(await waitFor(() => events.length >= 4)).toBe(true);
    expect(events.map((event) => [event.timeNs, event.message, event.level])).toEqual([
      ['1724339000123456789', 'line text', 'error'],
      ['1724339000123456790', 'next line', 'error'],
      [undefined, expect.stringMatching(/^Loki dropped 1 log line of the tail/), 'warn'],
      ['1724339001000000001', 'level=warning msg="<nil> retry & backoff"', 'warn'],
    ]);
    expect(events[3]).toMatchObject({ host: 'penny', service: 'homepage', labels: { host: 'penny', compose_service: 'homepage' }, lineLabels: { trace_id: 'abc123', msg: 'retry' } });
    expect(source.health!().counters.dropped_entries).toBe(1);
  });
});

testSource({
  name: 'loki',
  createSource: () => createLokiSource({ url: server.url, tenant: TENANT, query: '{app="conformance"}', reconnect: fast }),
  createSourceWithPosition: (position) => createLokiSource({ url: server.url, tenant: TENANT, query: '{app="conformance"}', reconnect: fast, position }),
  produce: async ({ count, runId }) => {
    const markers = Array.from({ length: count }, (_, index) => `${runId}-${String(index).padStart(4, '0')}`);
    await push(
      markers.map((marker) => [nextTs(), `conformance ${marker}`]),
      { app: 'conformance' },
    );
    return markers;
  },
});

describe('multi-line events and restarts', () => {
  it("joins Redis's FATAL CONFIG FILE ERROR block and a Go panic, pushed a line at a time, into one event each", async () => {
    const labels = { app: 'multi', host: 'galahad', container: 'redis' };
    const source = makeSource({ query: '{app="multi"}', multiline: { wait: '200ms' } });
    const { events, waitFor } = consume(source);
    await waitFor(() => source.health!().state === 'connected');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // redis src/config.c loaderr (7.2): header, line number, the offending line, the reason.
    const redis = ['*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***', 'Reading the configuration file, at line 2', '>>> \'rename-command FLUSHALL ""\'', 'Bad directive or wrong number of arguments'];
    for (const line of redis) await push([[nextTs(), line]], labels);
    // Go runtime: panic, signal line, blank line, goroutine header, frames.
    const go = [
      'panic: runtime error: invalid memory address or nil pointer dereference',
      '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f0d6]',
      'goroutine 1 [running]:',
      'main.main()',
      '\t/app/main.go:11 +0x1d',
    ];
    for (const line of go) await push([[nextTs(), line]], { ...labels, container: 'api' });
    expect(await waitFor(() => events.length >= 2)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events.map((event) => [event.service, event.message])).toEqual([
      ['redis', redis.join('\n')],
      ['api', go.join('\n')],
    ]);
    expect(source.health!().counters).toMatchObject({ multiline_joined_lines: 7 });
  });

  it('back-fills what was written while stopped from the saved position, each line once', async () => {
    const state = createMemoryStateStore();
    const labels = { app: 'restart', host: 'penny' };
    const first = makeSource({ query: '{app="restart"}', position: state, multiline: false });
    const before = consume(first);
    await before.waitFor(() => first.health!().state === 'connected');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await push([[nextTs(), 'before the stop']], labels);
    expect(await before.waitFor(() => lines(before.events).includes('before the stop'))).toBe(true);
    before.controller.abort();
    await before.done;
    await first.close?.();
    expect(state.values.get('loki-position-loki')).toContain('"lastNs"');

    // Down: three lines, one of them sharing the last timestamp's nanosecond with a line already seen.
    await push(
      [
        [nextTs(), 'while down 1'],
        [nextTs(), 'while down 2'],
        [nextTs(), 'while down 3'],
      ],
      labels,
    );

    const second = makeSource({ query: '{app="restart"}', position: state, multiline: false });
    const after = consume(second);
    expect(await after.waitFor(() => lines(after.events).length >= 3)).toBe(true);
    await push([[nextTs(), 'after the restart']], labels);
    expect(await after.waitFor(() => lines(after.events).includes('after the restart'))).toBe(true);
    expect(lines(after.events)).toEqual(['while down 1', 'while down 2', 'while down 3', 'after the restart']);
    expect(second.health!().counters).toMatchObject({ backfill_window_exceeded: 0 });
  });

  it('bounds the back-fill from an old saved position by maxBackfill, and counts it', async () => {
    const state = createMemoryStateStore();
    const old = (BigInt(Date.now()) - 3n * 3_600_000n) * 1_000_000n;
    await state.write('loki-position-loki', JSON.stringify({ lastNs: old.toString(), ids: [] }));
    const labels = { app: 'old-position', host: 'penny' };
    await push(
      [
        [old + 1n, 'three hours ago'],
        [nextTs(), 'recent'],
      ],
      labels,
    );
    const source = makeSource({ query: '{app="old-position"}', position: state, maxBackfill: '1h', multiline: false });
    const { events, waitFor } = consume(source);
    expect(await waitFor(() => lines(events).includes('recent'))).toBe(true);
    expect(lines(events)).toEqual(['recent']);
    expect(source.health!().counters).toMatchObject({ backfill_window_exceeded: 1 });
  });
});
