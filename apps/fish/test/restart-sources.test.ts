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

/** The world's catalog, audit file and sandbox, with a config reading the file and Loki. */
async function configure(world: World, metricsPort: number): Promise<string> {
  const path = join(world.dir, 'fish-sources.yaml');
  const base = await readFile(world.configPath, 'utf8');
  const sources = `sources:
  - type: file
    name: applog
    options: { path: ${world.incidentsPath}, follow: true, startAt: end, pollIntervalMs: 20, multiline: { waitMs: 50 } }
  - type: loki
    name: loki
    options: { url: "${loki.url}", tenant: ${TENANT}, query: '{app="restart-test"}', multiline: { wait: 50ms }, reconnect: { initialDelay: 50ms, maxDelay: 200ms } }
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
const writeFileLine = (world: World, service: string) => appendFile(world.incidentsPath, `${JSON.stringify({ message: line(service), host: TARGET, service, level: 'error' })}\n`);
function pushLoki(service: string): void {
  nextNs += 1_000_000n;
  loki.push(TENANT, [{ ts: nextNs, line: line(service), labels: { app: 'restart-test', host: TARGET, service_name: service } }]);
}

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
});
