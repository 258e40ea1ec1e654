/**
 * "No missed line around a restart", at the level of the app: the real `fish-sre run` process
 * reads a followed file and a Loki (testkit's protocol-faithful server: tail WebSocket and
 * query_range), is killed with SIGKILL, lines are written to both while it is down, and it is
 * started again on the same data folder. Every line written while it was down must be seen once:
 * fish's own counter of events received per source (its /metrics) counts exactly those lines, and
 * each of them opened its incident in the audit file.
 */
import { access, appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLokiServer, startNtfyServer, type LokiServer, type NtfyTestServer } from '@fish-sre/testkit';
import { CLI, disposeWorlds, FishProcess, freePort, killAllChildren, TARGET, waitUntil, World } from './crash/harness.js';

const TENANT = 'homelab';
let ntfy: NtfyTestServer;
let loki: LokiServer;

beforeAll(async () => {
  await access(CLI); // fails clearly when apps/fish was not built
  ntfy = await startNtfyServer({ version: '2.17.0' });
  loki = await startLokiServer({ pingIntervalMs: 200 });
});
afterEach(killAllChildren);
afterAll(async () => {
  await disposeWorlds();
  await ntfy?.stop();
  await loki?.close();
});

/**
 * The world's catalog, audit file and sandbox, with a config reading the file and Loki. `waitMs`:
 * how long a multi-line message waits for its next line (long: a block stays in the joiner).
 */
async function configure(world: World, metricsPort: number, waitMs = 50): Promise<string> {
  const path = join(world.dir, 'fish-sources.yaml');
  const base = await readFile(world.configPath, 'utf8');
  const sources = `sources:
  - type: file
    name: applog
    options: { path: ${world.incidentsPath}, follow: true, startAt: end, pollIntervalMs: 20, multiline: { waitMs: ${waitMs} } }
  - type: loki
    name: loki
    options: { url: "${loki.url}", tenant: ${TENANT}, query: '{app="restart-test"}', multiline: { wait: ${waitMs}ms }, reconnect: { initialDelay: 50ms, maxDelay: 200ms } }
`;
  const config = base
    .replace(/^sources:\n(?: {2}.*\n)+/m, sources)
    .replace(/^metrics: .*$/m, `metrics: { listen: { host: 127.0.0.1, port: ${metricsPort} } }`)
    .replace(/^dataDir: .*$/m, `dataDir: ${world.dir}/data-sources`);
  expect(config).toContain('name: loki');
  expect(config).toContain(`port: ${metricsPort} }`);
  await writeFile(path, config);
  return path;
}

let nextNs = BigInt(Date.now()) * 1_000_000n;
/** One ECONNREFUSED line (the catalog's one pattern) for its own service, so each line opens its own incident. */
const line = (service: string) => `connect ECONNREFUSED 10.0.0.1:80 from ${service}`;
const jsonLine = (service: string, message = line(service)) => `${JSON.stringify({ message, host: TARGET, service, level: 'error' })}\n`;
const writeFileLine = (world: World, service: string, message?: string) => appendFile(world.incidentsPath, jsonLine(service, message));
function pushLoki(service: string, message = line(service)): void {
  // Stamped now, as a shipper does (strictly increasing, so lines keep their order).
  const now = BigInt(Date.now()) * 1_000_000n;
  nextNs = now > nextNs ? now : nextNs + 1n;
  loki.push(TENANT, [{ ts: nextNs, line: message, labels: { app: 'restart-test', host: TARGET, service_name: service } }]);
}
/**
 * A Node.js process's unhandled connection error: the error line, then its stack, indented
 * (lib/net.js afterConnect raises it; the frames are what Node 22 prints). One event once joined.
 */
const NODE_ERROR = [
  'Error: connect ECONNREFUSED 10.0.0.1:80',
  '    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1637:16)',
  '    at TCPConnectWrap.callbackTrampoline (node:internal/async_hooks:130:17)',
];

async function received(metricsPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  const counts: Record<string, number> = {};
  // Series exist at 0 for every configured source; `other` (events of no configured source) only once one was counted.
  for (const match of text.matchAll(/^fish_events_received_total\{source="([^"]+)"\} (\d+)$/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}

async function incidentServices(world: World): Promise<string[]> {
  return (await (await world.store()).listIncidents({ limit: 1000 })).map((incident) => incident.service).sort();
}

/** Starts `fish-sre run` and waits (bounded) until /metrics answers and both sources read. */
async function startFish(world: World, config: string, metricsPort: number): Promise<FishProcess> {
  const fish = new FishProcess(['run', '--config', config], world.env());
  await waitUntil(
    'fish /metrics and both sources reading',
    async () => {
      if (!fish.running) throw new Error(`fish exited (${JSON.stringify(fish.exit)}); output:\n${fish.output.slice(-3000)}`);
      return /fish started/.test(fish.output) && loki.activeTails() > 0 && (await received(metricsPort)) !== undefined;
    },
    20_000,
  );
  return fish;
}

describe('restart of the real fish process', () => {
  it('after a SIGKILL, every line written to the file and to Loki while fish was down is seen once', async () => {
    const world = await World.create(ntfy);
    const metricsPort = await freePort();
    const config = await configure(world, metricsPort);
    const start = async () => {
      const fish = new FishProcess(['run', '--config', config], world.env());
      await waitUntil(
        'fish /metrics and both sources reading',
        async () => {
          if (!fish.running) throw new Error(`fish exited (${JSON.stringify(fish.exit)}); output:\n${fish.output.slice(-3000)}`);
          return /fish started/.test(fish.output) && loki.activeTails() > 0 && (await received(metricsPort)) !== undefined;
        },
        20_000,
      );
      return fish;
    };

    const first = await start();
    for (const index of [1, 2]) {
      await writeFileLine(world, `file-before-${index}`);
      pushLoki(`loki-before-${index}`);
    }
    const before = ['file-before-1', 'file-before-2', 'loki-before-1', 'loki-before-2'];
    await waitUntil('the lines written before the kill to open their incidents', async () => (await incidentServices(world)).join() === before.join());
    expect(await received(metricsPort)).toEqual({ applog: 2, loki: 2 });
    await first.kill9();
    await waitUntil('the tail to close', () => loki.activeTails() === 0, 5000);

    const down = ['file-down-1', 'file-down-2', 'file-down-3', 'loki-down-1', 'loki-down-2', 'loki-down-3'];
    for (const index of [1, 2, 3]) {
      await writeFileLine(world, `file-down-${index}`);
      pushLoki(`loki-down-${index}`);
    }

    const second = await start();
    await waitUntil('an incident for every line written while fish was down', async () => (await incidentServices(world)).length === before.length + down.length);
    // Nothing read twice, nothing left out: the restarted process received exactly the lines written while it was down.
    await waitUntil(
      'both sources to have handed on the lines',
      async () => {
        const now = await received(metricsPort);
        return (now['applog'] ?? 0) >= 3 && (now['loki'] ?? 0) >= 3;
      },
      5000,
    );
    // A line read twice would arrive right after the first copy: give it the time to.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await received(metricsPort)).toEqual({ applog: 3, loki: 3 });
    expect(await incidentServices(world)).toEqual([...before, ...down].sort());
    await second.stop();
  }, 28_000);

  it('after a SIGKILL in the middle of a burst, every line is processed once: none left in the bus is lost, none processed is opened again', async () => {
    const world = await World.create(ntfy);
    const metricsPort = await freePort();
    const config = await configure(world, metricsPort);
    const first = await startFish(world, config, metricsPort);
    // A burst the loop takes a while to record (each line opens its own incident): the file
    // source reads it in one go, so most of it waits in the bus or for its audit row at the kill.
    const count = 60;
    const file = Array.from({ length: count }, (_, index) => `file-burst-${index}`);
    const pushed = Array.from({ length: count }, (_, index) => `loki-burst-${index}`);
    await appendFile(world.incidentsPath, file.map((service) => jsonLine(service)).join(''));
    for (const service of pushed) pushLoki(service);
    await waitUntil('the first incidents of the burst', async () => (await incidentServices(world)).length >= 4, 10_000, 5);
    await first.kill9();
    const recorded = await incidentServices(world);
    // The kill came in the middle: some lines had their incident, others not yet.
    expect(recorded.length).toBeLessThan(2 * count);
    await waitUntil('the tail to close', () => loki.activeTails() === 0, 5000);

    const second = await startFish(world, config, metricsPort);
    const all = [...file, ...pushed].sort();
    await waitUntil('an incident for every line of the burst', async () => (await incidentServices(world)).length >= all.length, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Each line opened its incident exactly once, over both runs.
    expect(await incidentServices(world)).toEqual(all);
    const now = await received(metricsPort);
    for (const [source, lines] of [
      ['applog', file],
      ['loki', pushed],
    ] as const) {
      const missing = lines.filter((service) => !recorded.includes(service)).length;
      // Every line without its incident at the kill was read again; what was read again beyond
      // them was processed already (acknowledged after the last save) and its cooldown kept it closed.
      expect(now[source], `${source}: ${missing} lines had no incident at the kill`).toBeGreaterThanOrEqual(missing);
      expect(now[source], `${source} read everything again`).toBeLessThan(lines.length);
    }
    await second.stop();
  }, 28_000);

  it('a multi-line block being joined at a SIGKILL is read again after the restart, whole, once', async () => {
    const world = await World.create(ntfy);
    const metricsPort = await freePort();
    // A long wait: the block stays in the joiner until a line of another message comes.
    const config = await configure(world, metricsPort, 60_000);
    const first = await startFish(world, config, metricsPort);
    await writeFileLine(world, 'file-block', NODE_ERROR[0]);
    await writeFileLine(world, 'file-block', NODE_ERROR[1]);
    pushLoki('loki-block', NODE_ERROR[0]);
    pushLoki('loki-block', NODE_ERROR[1]);
    // Read and waiting in the joiners (nothing else completes them).
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await received(metricsPort)).toEqual({ applog: 0, loki: 0 });
    await first.kill9();
    await waitUntil('the tail to close', () => loki.activeTails() === 0, 5000);
    // While down the block ends; a line of another message follows it.
    await writeFileLine(world, 'file-block', NODE_ERROR[2]);
    await writeFileLine(world, 'file-block', 'server listening on :8080');
    pushLoki('loki-block', NODE_ERROR[2]);
    pushLoki('loki-block', 'server listening on :8080');

    const second = await startFish(world, config, metricsPort);
    await waitUntil('both blocks to open their incidents', async () => (await incidentServices(world)).length >= 2, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const incidents = await (await world.store()).listIncidents({ limit: 10 });
    expect(incidents.map((incident) => incident.service).sort()).toEqual(['file-block', 'loki-block']);
    for (const incident of incidents) expect(incident.evidence.join('\n'), incident.service).toContain(NODE_ERROR.join('\n'));
    // The block (one event) and the line after it, which waits for its own end: the block is read once.
    expect(await received(metricsPort)).toEqual({ applog: 1, loki: 1 });
    await second.stop();
  }, 28_000);

  it('a graceful stop processes the multi-line block being joined before fish exits, and it is not read again', async () => {
    const world = await World.create(ntfy);
    const metricsPort = await freePort();
    const config = await configure(world, metricsPort, 60_000);
    const first = await startFish(world, config, metricsPort);
    await writeFileLine(world, 'file-stop', NODE_ERROR[0]);
    await writeFileLine(world, 'file-stop', NODE_ERROR[1]);
    pushLoki('loki-stop', NODE_ERROR[0]);
    pushLoki('loki-stop', NODE_ERROR[1]);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await received(metricsPort)).toEqual({ applog: 0, loki: 0 });
    const exit = await first.stop();
    expect(exit, first.output.slice(-2000)).toEqual({ code: 0, signal: null });
    // Processed before the exit: both blocks (as far as they were written) have their incident.
    const incidents = await (await world.store()).listIncidents({ limit: 10 });
    expect(incidents.map((incident) => incident.service).sort()).toEqual(['file-stop', 'loki-stop']);
    for (const incident of incidents) expect(incident.evidence.join('\n'), incident.service).toContain(NODE_ERROR.slice(0, 2).join('\n'));

    // A line while down, and one that completes it (the joiners wait for the next message).
    await writeFileLine(world, 'file-after');
    await writeFileLine(world, 'file-after', 'server listening on :8080');
    pushLoki('loki-after');
    pushLoki('loki-after', 'server listening on :8080');
    const second = await startFish(world, config, metricsPort);
    await waitUntil('the lines written while down to open their incidents', async () => (await incidentServices(world)).length >= 4, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The saved positions were after the blocks: only the new lines are read (the last waits in the joiner).
    expect(await incidentServices(world)).toEqual(['file-after', 'file-stop', 'loki-after', 'loki-stop']);
    expect(await received(metricsPort)).toEqual({ applog: 1, loki: 1 });
    await second.stop();
  }, 28_000);
});
