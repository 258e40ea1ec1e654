import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { categorize } from './loki-pipeline.js';
import { parseLogQuery, parseLokiTimestamp, startLokiServer, type LokiServer } from './loki.js';

let server: LokiServer;
beforeAll(async () => {
  server = await startLokiServer({ tailMaxDurationMs: 400, pingIntervalMs: 100, maxConcurrentTails: 2 });
});
afterAll(() => server.close());

const base = 1_724_339_000_000_000_000n;
const headers = { 'X-Scope-OrgID': 'acme' };

function tail(query: string, params: Record<string, string> = {}, extraHeaders: Record<string, string> = headers) {
  const search = new URLSearchParams({ query, ...params });
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/loki/api/v1/tail?${search}`, { headers: extraHeaders });
  const frames: Array<Record<string, unknown>> = [];
  let pings = 0;
  socket.on('message', (data) => frames.push(JSON.parse(String(data))));
  socket.on('ping', () => pings++);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const failed = new Promise<string>((resolve) => socket.on('error', (error) => resolve(error.message)));
  return { socket, frames, closed, failed, pings: () => pings };
}

describe('Loki test server, protocol facts of protocols.md §1', () => {
  it('parses the minimal LogQL and Loki timestamps', () => {
    expect(parseLogQuery('{app="api", level=~"err|warn"} |= "x" != "y" |~ "a.c"').filters).toHaveLength(3);
    expect(() => parseLogQuery('app="api"')).toThrow(/^parse error at line 1, col 1: syntax error/);
    expect(() => parseLogQuery('{app=~".*"}')).toThrow(/empty-compatible value/);
    expect(parseLokiTimestamp('1724339000')).toBe(1_724_339_000_000_000_000n);
    expect(parseLokiTimestamp('1724339000.5')).toBe(1_724_339_000_500_000_000n);
    expect(parseLokiTimestamp('1724339000123456789')).toBe(1_724_339_000_123_456_789n);
    expect(parseLokiTimestamp('2024-08-22T15:03:20.123456789Z')).toBe(1_724_339_000_123_456_789n);
  });

  it('accepts JSON pushes with string timestamps (204) and refuses numbers (400)', async () => {
    const ok = await fetch(`${server.url}/loki/api/v1/push`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        streams: [
          {
            stream: { app: 'x' },
            values: [
              [String(base), 'line'],
              [String(base + 1n), 'line2', { trace_id: 'abc' }],
            ],
          },
        ],
      }),
    });
    expect(ok.status).toBe(204);
    const bad = await fetch(`${server.url}/loki/api/v1/push`, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ streams: [{ stream: { app: 'x' }, values: [[1, 'line']] }] }),
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^text\/plain/);
  });

  it('requires X-Scope-OrgID (401 "no org id") and answers /ready', async () => {
    const response = await fetch(`${server.url}/loki/api/v1/query_range?query=${encodeURIComponent('{app="x"}')}`);
    expect(response.status).toBe(401);
    expect(await response.text()).toBe('no org id\n');
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  });

  it('query_range: end exclusive, limit, direction (backward by default), text/plain errors', async () => {
    server.push(
      'range',
      [0n, 1n, 2n, 3n, 4n].map((offset) => ({ ts: base + offset, line: `l${offset}`, labels: { app: 'r', pod: offset % 2n ? 'odd' : 'even' } })),
    );
    const get = async (params: Record<string, string>) => {
      const response = await fetch(`${server.url}/loki/api/v1/query_range?${new URLSearchParams({ query: '{app="r"}', ...params })}`, { headers: { 'X-Scope-OrgID': 'range' } });
      return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
    };
    const lines = (body: string) => (JSON.parse(body) as { data: { result: Array<{ values: string[][] }> } }).data.result.flatMap((stream) => stream.values.map((value) => value[1]));
    const forward = await get({ start: String(base), end: String(base + 3n), direction: 'forward', limit: '10' });
    expect(lines(forward.body).sort()).toEqual(['l0', 'l1', 'l2']);
    const backward = await get({ start: String(base), end: String(base + 5n), limit: '2' });
    expect(lines(backward.body).sort()).toEqual(['l3', 'l4']);
    const parsed = JSON.parse(backward.body) as { status: string; data: { resultType: string; stats: { summary: { totalEntriesReturned: number } } } };
    expect(parsed).toMatchObject({ status: 'success', data: { resultType: 'streams', stats: { summary: { totalEntriesReturned: 2 } } } });
    const tooMany = await get({ limit: '5001' });
    expect(tooMany).toMatchObject({ status: 400, body: 'max entries limit per query exceeded, limit > max_entries_limit (5001 > 5000)\n' });
    expect(tooMany.type).toMatch(/^text\/plain/);
  });

  it('tail: 400 before the upgrade for a bad query or delay_for > 5', async () => {
    const bad = tail('app="api"');
    expect(await bad.failed).toBe('Unexpected server response: 400');
    const delay = tail('{app="api"}', { delay_for: '6' });
    expect(await delay.failed).toBe('Unexpected server response: 400');
  });

  it('tail: historical backfill is the newest `limit` entries, oldest first, one stream object per entry; pings; 1011 max duration', async () => {
    server.push(
      'acme',
      [0n, 1n, 2n, 3n].map((offset) => ({ ts: base + offset, line: `h${offset}`, labels: { app: 'hist' } })),
    );
    const client = tail('{app="hist"}', { start: String(base), limit: '3' });
    const closed = await client.closed;
    expect(closed).toEqual({ code: 1011, reason: 'reached tail max duration limit' });
    expect(client.pings()).toBeGreaterThanOrEqual(1);
    expect(client.frames).toEqual([
      {
        streams: [
          { stream: { app: 'hist' }, values: [[String(base + 1n), 'h1']] },
          { stream: { app: 'hist' }, values: [[String(base + 2n), 'h2']] },
          { stream: { app: 'hist' }, values: [[String(base + 3n), 'h3']] },
        ],
      },
    ]);
  });

  it('tail: delay_for holds live entries back by that many seconds', async () => {
    server.setTailMaxDurationMs(4000);
    const client = tail('{app="delayed"}', { delay_for: '1' });
    await new Promise((resolve) => client.socket.once('open', resolve));
    server.setTailMaxDurationMs(400);
    server.push('acme', [{ ts: base + 500n, line: 'late', labels: { app: 'delayed' } }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(client.frames).toEqual([]);
    const deadline = Date.now() + 3000;
    while (client.frames.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.frames).toEqual([{ streams: [{ stream: { app: 'delayed' }, values: [[String(base + 500n), 'late']] }] }]);
    client.socket.close();
  });

  it('tail: at most 100 entries per frame', async () => {
    server.push(
      'acme',
      Array.from({ length: 250 }, (_, index) => ({ ts: base + 100n + BigInt(index), line: `f${index}`, labels: { app: 'frames' } })),
    );
    const client = tail('{app="frames"}', { start: String(base), limit: '1000' });
    await client.closed;
    expect(client.frames.map((frame) => (frame.streams as unknown[]).length)).toEqual([100, 100, 50]);
  });

  it('tail: concurrency limit closes 1011 after the upgrade with Loki’s text; live entries and dropped_entries', async () => {
    const first = tail('{app="live"}');
    const second = tail('{app="live"}');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const third = tail('{app="live"}');
    expect(await third.closed).toEqual({ code: 1011, reason: 'rpc error: code = Code(400) desc = max concurrent tail requests limit exceeded, count > limit (3 > 2)' });
    server.dropNextTailEntries(2); // both tails lose one each
    server.push('acme', [{ ts: base + 10n, line: 'a', labels: { app: 'live' } }]);
    server.push('acme', [{ ts: base + 11n, line: 'b', labels: { app: 'live' } }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const allFrames = [...first.frames, ...second.frames];
    expect(allFrames.flatMap((frame) => (frame.dropped_entries as unknown[]) ?? [])).toHaveLength(2);
    server.terminateTails();
    expect((await first.closed).code).toBe(1006);
    expect((await second.closed).code).toBe(1006);
  });
});

describe('Loki test server, LogQL parser stages (grafana/loki pkg/logql/log/parser_test.go cases)', () => {
  it('| json flattens nested objects, keeps number text, suffixes names the stream already has, first value wins', () => {
    expect(categorize([{ type: 'json' }], '{"app":"foo","namespace":"prod","pod":{"uuid":"foo","deployment":{"ref":"foobar"}}}', {})).toEqual({
      stream: {},
      structuredMetadata: {},
      parsed: { app: 'foo', namespace: 'prod', pod_uuid: 'foo', pod_deployment_ref: 'foobar' },
    });
    expect(categorize([{ type: 'json' }], '{"app":"bar","namespace":"prod","pod":{"uuid":"bar","deployment":{"ref":"foobar"}}}', { app: 'foo', pod_uuid: 'foo' }).parsed).toEqual({
      app_extracted: 'bar',
      namespace: 'prod',
      pod_uuid_extracted: 'bar',
      pod_deployment_ref: 'foobar',
    });
    expect(categorize([{ type: 'json' }], '{"counter":1, "price": {"_net_":5.56909}, "big": 1.50, "ok": true, "list": [1], "none": null}', {}).parsed).toEqual({
      counter: '1',
      price__net_: '5.56909',
      big: '1.50',
      ok: 'true',
    });
    expect(categorize([{ type: 'json' }], '{" ": {"foo":"bar"}, "9lives": "x", "a-b.c": "y"}', {}).parsed).toEqual({ foo: 'bar', _9lives: 'x', a_b_c: 'y' });
    expect(categorize([{ type: 'json' }], 'not json', { app: 'a' }).parsed).toMatchObject({ __error__: 'JSONParserErr' });
    // A structured metadata name is taken too; a metadata label replaces the stream label of its name.
    expect(categorize([{ type: 'json' }], '{"host":"otherhost","trace":"t"}', { app: 'a', host: 'penny' }, { trace: 'abc' })).toEqual({
      stream: { app: 'a', host: 'penny' },
      structuredMetadata: { trace: 'abc' },
      parsed: { host_extracted: 'otherhost', trace_extracted: 't' },
    });
    expect(categorize([], 'x', { app: 'a', host: 'penny' }, { host: 'meta' })).toEqual({ stream: { app: 'a' }, structuredMetadata: { host: 'meta' }, parsed: {} });
  });

  it('| logfmt reads pairs, quoted values and bare keys; --strict stops at the first error', () => {
    const logfmt = (line: string, strict = false, keepEmpty = false, stream: Record<string, string> = {}) => categorize([{ type: 'logfmt', strict, keepEmpty }], line, stream).parsed;
    expect(logfmt('foobar====wqe=sdad1r', false, false, { foo: 'bar' })).toEqual({});
    expect(logfmt('foobar====wqe=sdad1r', true)).toEqual({ __error__: 'LogfmtParserErr', __error_details__: "logfmt syntax error at pos 8 : unexpected '='" });
    expect(logfmt('buzz bar=foo')).toEqual({ bar: 'foo' });
    expect(logfmt('buzz bar=foo', false, true)).toEqual({ buzz: '', bar: 'foo' });
    expect(logfmt('foobar="foo bar"')).toEqual({ foobar: 'foo bar' });
    expect(logfmt('foobar="foo\\nbar\\tbaz"')).toEqual({ foobar: 'foo\nbar\tbaz' });
    expect(logfmt('foobar="foo\nbar\tbaz"')).toEqual({ foobar: 'foo\nbar\tbaz' });
    expect(logfmt('foobar="foo ba\\\\r baz"')).toEqual({ foobar: 'foo ba\\r baz' });
    expect(logfmt('foobar="foo bar" foobar=10ms')).toEqual({ foobar: 'foo bar' });
    expect(logfmt('foo="foo bar" foobar=10ms', false, false, { foo: 'bar' })).toEqual({ foo_extracted: 'foo bar', foobar: '10ms' });
  });

  it('answers | json queries merged without categorize-labels, split with it (query_range and tail)', async () => {
    const ts = base + 9_000_000_000n;
    server.push('logql', [{ ts, line: '{"host":"otherhost","level":"error","msg":"boom"}', labels: { app: 'parsed', compose_service: 'web' } }]);
    const range = (query: string, extra: Record<string, string> = {}) =>
      fetch(`${server.url}/loki/api/v1/query_range?${new URLSearchParams({ query, start: String(ts - 1n), end: String(ts + 1n) })}`, { headers: { 'X-Scope-OrgID': 'logql', ...extra } }).then(
        (response) => response.json() as Promise<{ data: { encodingFlags?: string[]; result: Array<{ stream: Record<string, string>; values: unknown[][] }> } }>,
      );
    const merged = await range('{app="parsed"} | json');
    expect(merged.data.encodingFlags).toBeUndefined();
    expect(merged.data.result).toEqual([
      { stream: { app: 'parsed', compose_service: 'web', host: 'otherhost', level: 'error', msg: 'boom' }, values: [[String(ts), '{"host":"otherhost","level":"error","msg":"boom"}']] },
    ]);
    const split = await range('{app="parsed"} | json', { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' });
    expect(split.data.encodingFlags).toEqual(['categorize-labels']);
    expect(split.data.result).toEqual([
      {
        stream: { app: 'parsed', compose_service: 'web' },
        values: [[String(ts), '{"host":"otherhost","level":"error","msg":"boom"}', { parsed: { host: 'otherhost', level: 'error', msg: 'boom' } }]],
      },
    ]);
    // A label filter on a parsed label, and a plain query with categorize-labels: an empty third element.
    expect((await range('{app="parsed"} | json | host="penny"')).data.result).toEqual([]);
    expect((await range('{app="parsed"} | json | level=~"err.*"')).data.result).toHaveLength(1);
    expect((await range('{app="parsed"}', { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' })).data.result[0]!.values[0]![2]).toEqual({});
    const live = tail('{app="parsed"} | json', { start: String(ts - 1n) }, { 'X-Scope-OrgID': 'logql', 'X-Loki-Response-Encoding-Flags': 'categorize-labels' });
    const deadline = Date.now() + 5000;
    while (live.frames.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(live.frames[0]).toMatchObject({
      streams: [{ stream: { app: 'parsed', compose_service: 'web' }, values: [[String(ts), expect.any(String), { parsed: { host: 'otherhost' } }]] }],
      encodingFlags: ['categorize-labels'],
    });
    live.socket.close();
  });
});
