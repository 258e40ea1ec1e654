/**
 * The Loki source's saved position against the testkit Loki server: with acknowledgements it
 * passes only lines whose events the consumer processed, so a crash re-reads (never loses) a
 * line waiting in the source's joiner, its queue or the consumer's bus.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStateStore, type ObservedEvent, type PluginStateStore, type Source } from '@fish-sre/core';
import { startLokiServer, type LokiServer } from '@fish-sre/testkit';
import { createLokiSource, type LokiSourceOptions } from './index.js';

const TENANT = 'homelab';
let server: LokiServer;
const cleanups: Array<() => unknown> = [];
beforeAll(async () => {
  server = await startLokiServer({ pingIntervalMs: 200 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await server?.close();
});

let tsCounter = 0n;
const nextTs = () => BigInt(Date.now()) * 1_000_000n + 123_457n + tsCounter++;

function makeSource(app: string, position: PluginStateStore, overrides: Partial<LokiSourceOptions> = {}): Source {
  const source = createLokiSource({
    url: server.url,
    tenant: TENANT,
    query: `{app="${app}"}`,
    position,
    reconnect: { initialDelay: '20ms', maxDelay: '200ms', configErrorDelay: '300ms' },
    ...overrides,
  });
  cleanups.push(() => source.close?.());
  return source;
}

/** Takes events as the engine does (asking for acknowledgements); the test acknowledges them. */
function consume(source: Source) {
  const controller = new AbortController();
  const events: ObservedEvent[] = [];
  const done = (async () => {
    for await (const event of source.events(controller.signal, { acknowledges: true })) events.push(event);
  })();
  cleanups.push(async () => {
    controller.abort();
    await done;
  });
  return { events, done, controller };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  if (!predicate()) throw new Error(`timed out waiting for ${what}`);
}

/** What a SIGKILL leaves: a copy of the store as it is now. */
async function killedCopy(state: ReturnType<typeof createMemoryStateStore>) {
  const copy = createMemoryStateStore();
  for (const [key, value] of state.values) await copy.write(key, value);
  return copy;
}

const savedNs = (state: ReturnType<typeof createMemoryStateStore>) => (JSON.parse(state.values.get('loki-position-loki') ?? '{"lastNs":"0"}') as { lastNs: string }).lastNs;
const messages = (events: ObservedEvent[]) => events.map((event) => event.message);

describe('Loki source acknowledgements', () => {
  it('saves a position only past lines whose events were acknowledged: a kill re-reads the others once', async () => {
    const state = createMemoryStateStore();
    const source = makeSource('acks', state, { multiline: false });
    const reader = consume(source);
    await waitFor('the tail', () => source.health!().state === 'connected' && server.activeTails() > 0);
    const stamps = [nextTs(), nextTs(), nextTs()];
    server.push(
      TENANT,
      ['a', 'b', 'c'].map((line, index) => ({ ts: stamps[index]!, line, labels: { app: 'acks', host: 'penny' } })),
    );
    await waitFor('three events', () => reader.events.length === 3);
    const [a, b, c] = reader.events;
    // Taken, not processed yet (queued in the engine's bus): the position saved at the start stays.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(BigInt(savedNs(state))).toBeLessThan(stamps[0]!);
    await source.acknowledge!(a!);
    expect(savedNs(state)).toBe(stamps[0]!.toString());
    // Out of order: c is processed, b is not; the position stays at a.
    await source.acknowledge!(c!);
    expect(savedNs(state)).toBe(stamps[0]!.toString());

    const restarted = makeSource('acks', await killedCopy(state), { multiline: false });
    const again = consume(restarted);
    await waitFor('the lines not acknowledged, again', () => again.events.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(messages(again.events)).toEqual(['b', 'c']);
    expect(again.events.map((event) => event.id)).toEqual([b!.id, c!.id]);

    await source.acknowledge!(b!);
    expect(savedNs(state)).toBe(stamps[2]!.toString());
  });

  it('a first start saves where it begins: a kill before any line was processed loses nothing', async () => {
    const state = createMemoryStateStore();
    const source = makeSource('first-start', state, { multiline: false });
    const reader = consume(source);
    await waitFor('the tail', () => source.health!().state === 'connected' && server.activeTails() > 0);
    server.push(TENANT, [{ ts: nextTs(), line: 'read, never processed', labels: { app: 'first-start', host: 'penny' } }]);
    await waitFor('the line', () => reader.events.length === 1);
    const copy = await killedCopy(state);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const restarted = makeSource('first-start', copy, { multiline: false });
    const again = consume(restarted);
    await waitFor('the line, again', () => again.events.length === 1);
    expect(messages(again.events)).toEqual(['read, never processed']);
  });

  it('the position saved at the start gives way to the first line processed, even one stamped before the start', async () => {
    const state = createMemoryStateStore();
    const labels = { app: 'skewed', host: 'penny' };
    // A shipper whose clock is behind: its lines carry times from before fish started.
    const behind = BigInt(Date.now() - 10_000) * 1_000_000n;
    const source = makeSource('skewed', state, { multiline: false });
    const reader = consume(source);
    await waitFor('the tail', () => source.health!().state === 'connected' && server.activeTails() > 0);
    server.push(TENANT, [{ ts: behind, line: 'late 1', labels }]);
    await waitFor('the line', () => reader.events.length === 1);
    await source.acknowledge!(reader.events[0]!);
    expect(savedNs(state)).toBe(behind.toString());
    const copy = await killedCopy(state);
    server.push(TENANT, [{ ts: behind + 1_000_000n, line: 'late 2', labels }]);
    const restarted = makeSource('skewed', copy, { multiline: false });
    const again = consume(restarted);
    await waitFor('the line written while down', () => again.events.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(messages(again.events)).toEqual(['late 2']);
  });

  it('a block being joined at a kill is read again whole after the restart', async () => {
    const state = createMemoryStateStore();
    const labels = { app: 'joining', host: 'galahad', container: 'redis' };
    const options = { multiline: { wait: '60s' } } as const;
    const source = makeSource('joining', state, options);
    const reader = consume(source);
    await waitFor('the tail', () => source.health!().state === 'connected' && server.activeTails() > 0);
    server.push(TENANT, [{ ts: nextTs(), line: '1:C 20 Apr 2026 08:45:00.001 # Redis is starting', labels }]);
    // redis src/config.c loaderr (7.2): header, line number, the offending line, the reason.
    const block = ['*** FATAL CONFIG FILE ERROR (Redis 7.2.4) ***', 'Reading the configuration file, at line 2', '>>> \'rename-command FLUSHALL ""\'', 'Bad directive or wrong number of arguments'];
    server.push(TENANT, [{ ts: nextTs(), line: block[0]!, labels }]);
    server.push(TENANT, [{ ts: nextTs(), line: block[1]!, labels }]);
    // The header line completes the first message; the block waits in the joiner.
    await waitFor('the first line', () => reader.events.length === 1);
    await source.acknowledge!(reader.events[0]!);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const copy = await killedCopy(state);

    // While down, the block ends and another line follows.
    server.push(TENANT, [{ ts: nextTs(), line: block[2]!, labels }]);
    server.push(TENANT, [{ ts: nextTs(), line: block[3]!, labels }]);
    server.push(TENANT, [{ ts: nextTs(), line: '1:M 20 Apr 2026 08:45:09.000 * Ready to accept connections tcp', labels }]);
    const restarted = makeSource('joining', copy, { multiline: { wait: '50ms' } });
    const again = consume(restarted);
    await waitFor('the block and the next line', () => again.events.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(messages(again.events)).toEqual([block.join('\n'), '1:M 20 Apr 2026 08:45:09.000 * Ready to accept connections tcp']);
  });

  it('on a graceful stop hands on the block being joined once, and saves the position after it once acknowledged', async () => {
    const state = createMemoryStateStore();
    const labels = { app: 'stopping', host: 'galahad', container: 'api' };
    const source = makeSource('stopping', state, { multiline: { wait: '60s' } });
    const reader = consume(source);
    await waitFor('the tail', () => source.health!().state === 'connected' && server.activeTails() > 0);
    // Go src/runtime/panic.go: the panic line, the signal line, the goroutine header and its frames.
    const panic = [
      'panic: runtime error: invalid memory address or nil pointer dereference',
      '[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f0d6]',
      'goroutine 1 [running]:',
      'main.main()',
      '\t/app/main.go:11 +0x1d',
    ];
    const stamps = panic.map(() => nextTs());
    server.push(
      TENANT,
      panic.map((line, index) => ({ ts: stamps[index]!, line, labels })),
    );
    await waitFor('the lines to be read', () => source.health!().counters['lines_received'] === panic.length);
    expect(reader.events).toEqual([]);
    reader.controller.abort();
    await reader.done;
    expect(messages(reader.events)).toEqual([panic.join('\n')]);
    expect(BigInt(savedNs(state))).toBeLessThan(stamps[0]!);
    await source.acknowledge!(reader.events[0]!);
    expect(savedNs(state)).toBe(stamps[panic.length - 1]!.toString());

    server.push(TENANT, [{ ts: nextTs(), line: 'after the restart', labels }]);
    const restarted = makeSource('stopping', state, { multiline: { wait: '50ms' } });
    const again = consume(restarted);
    await waitFor('the next line', () => again.events.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(messages(again.events)).toEqual(['after the restart']);
  });
});
