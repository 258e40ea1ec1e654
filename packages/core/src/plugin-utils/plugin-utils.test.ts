import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '../errors.js';
import { BoundedQueue } from './bounded-queue.js';
import { fit, truncateUtf8 } from './fit.js';
import { httpRequest } from './http.js';
import { backoffDelay, parseRetryAfter } from './retry.js';

describe('parseRetryAfter', () => {
  it('reads seconds, milliseconds and HTTP dates', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after': '2' }))).toBe(2000);
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '150', 'retry-after': '9' }))).toBe(150);
    expect(parseRetryAfter(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6_000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfter(new Headers())).toBeUndefined();
  });
});

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap, minus at most the jitter', () => {
    const exact = { initialDelayMs: 500, maxDelayMs: 8000, random: () => 0 };
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, exact))).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
    expect(backoffDelay(2, { ...exact, jitter: 0.25, random: () => 0.999_999 })).toBe(750);
  });
});

describe('fit and truncateUtf8', () => {
  it('never splits a character and marks what it cut', () => {
    expect(truncateUtf8('héllo', 2)).toBe('h');
    expect(truncateUtf8('🐟🐟', 5)).toBe('🐟');
    expect(fit('short', 10)).toBe('short');
    const fitted = fit('é'.repeat(100), 11);
    expect(Buffer.byteLength(fitted)).toBeLessThanOrEqual(11);
    expect(fitted).toBe(`${'é'.repeat(4)}…`);
  });
});

describe('BoundedQueue', () => {
  it('hands items over in order, says when it is full and wakes a waiting consumer', async () => {
    const queue = new BoundedQueue<number>(2);
    const controller = new AbortController();
    const waiting = queue.waitForItem(controller.signal);
    queue.push(1);
    await waiting;
    queue.push(2);
    expect(queue.isFull()).toBe(true);
    expect(queue.hasRoomFor(1)).toBe(false);
    expect([queue.shift(), queue.shift(), queue.shift()]).toEqual([1, 2, undefined]);
  });
});

describe('httpRequest', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function serve(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const base = { scope: 'test', what: 'publish', errorCode: FishErrorCode.NOTIFIER_FAILED } as const;

  it('retries 503 and 429, waiting what Retry-After asks, and returns the final answer', async () => {
    const answers = [
      [503, {}],
      [429, { 'Retry-After': '2' }],
      [200, {}],
    ] as const;
    let calls = 0;
    const url = await serve((_request, response) => {
      const [status, headers] = answers[calls++]!;
      response.writeHead(status, headers).end(status === 200 ? 'ok' : 'busy');
    });
    const sleeps: number[] = [];
    const result = await httpRequest({ ...base, url, retries: 3, retryDelayMs: 100, random: () => 0, sleep: async (milliseconds) => void sleeps.push(milliseconds) });
    expect(result).toMatchObject({ status: 200, text: 'ok', attempts: 3 });
    expect(sleeps).toEqual([100, 2000]);
  });

  it('returns a 4xx at once and a 5xx after the last attempt, without throwing', async () => {
    let calls = 0;
    const url = await serve((request, response) => {
      calls++;
      response.writeHead(request.url === '/missing' ? 404 : 500).end('no');
    });
    const sleep = async () => {};
    expect((await httpRequest({ ...base, url: `${url}/missing`, sleep })).status).toBe(404);
    expect(calls).toBe(1);
    expect(await httpRequest({ ...base, url, retries: 2, sleep })).toMatchObject({ status: 500, attempts: 3 });
  });

  it('does not wait out a Retry-After longer than its cap: the answer comes back at once', async () => {
    const url = await serve((_request, response) => response.writeHead(429, { 'Retry-After': '3600' }).end());
    const result = await httpRequest({ ...base, url, retries: 2, maxRetryDelayMs: 5000, sleep: () => Promise.reject(new Error('must not sleep')) });
    expect(result).toMatchObject({ status: 429, attempts: 1 });
  });

  it('gives up on a server that never answers with a retryable FishError naming the timeout, redacted', async () => {
    const url = await serve(() => {});
    const error = await httpRequest({
      ...base,
      url: `${url}/?token=hunter2hunter2`,
      what: 'publish with hunter2hunter2',
      timeoutMs: 100,
      retries: 1,
      sleep: async () => {},
      redact: (text) => text.replaceAll('hunter2hunter2', '[REDACTED]'),
    }).catch((thrown: unknown) => thrown);
    expect(FishError.hasCode(error, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
    expect((error as FishError).isRetryable).toBe(true);
    expect((error as FishError).message).toBe('[fish-sre] [test] publish with [REDACTED] failed: no answer within 100 ms (2 attempts)');
  });

  it('stops when its signal aborts, the back-off included', async () => {
    const url = await serve((_request, response) => response.writeHead(503).end());
    const controller = new AbortController();
    const error = await httpRequest({ ...base, url, retries: 5, retryDelayMs: 60_000, signal: controller.signal, onRetry: () => controller.abort() }).catch((thrown: unknown) => thrown);
    expect(FishError.isInstance(error) && error.details['aborted']).toBe(true);
  });

  it('uses the injected fetch', async () => {
    const seen: string[] = [];
    const fetch = (async (input: string | URL | Request) => {
      seen.push(String(input));
      return new Response('{}', { status: 200 });
    }) as typeof globalThis.fetch;
    expect((await httpRequest({ ...base, url: 'http://fish.invalid/x', fetch })).status).toBe(200);
    expect(seen).toEqual(['http://fish.invalid/x']);
  });
});
