// What `/metrics` costs the loop: events pumped from two sources through the bus into the engine,
// with fish's metrics attached (the engine observer counting received, dropped, stale and
// deduplicated events per source, the event listeners, prom-client's default Node metrics and
// their event-loop and GC monitors, one scrape) and without. Each measurement is its own process
// (the monitors are process-wide), alternating without / with so the machine's other load falls
// on both alike; the figure is the ratio of the medians.
// Prints one JSON line of figures on stdout, human text on stderr.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ApprovalSigner, CatalogHolder, FishEngine, createMemoryAuditStore, systemClock } from '@fish-sre/core';
import { createFishMetrics, fishEngineObserver, observeFish } from '@fish-sre/fish';
import { catalog, catalogDir, hosts, incidentLines, logEvent, noopExecutor, noopNotifier, say } from './common.mjs';
import { homelabDay } from './homelab-day.mjs';

const holder = await CatalogHolder.load(catalogDir);

const LINES = Number(process.env.BENCH_LINES ?? 150_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const events = [];
for (const line of homelabDay({ incidentLines, incidents: 50 })) {
  const text = JSON.stringify(line);
  // One line in twenty repeats an earlier id: the deduplication counter is exercised too.
  const id = events.length % 20 === 19 ? events[events.length - 7].id : createHash('sha1').update(text).digest('base64url');
  events.push(logEvent(line, id, events.length % 2 ? 'loki' : 'file'));
  if (events.length >= LINES) break;
}

/** A source that yields the prepared events as fast as the bus takes them. */
function arraySource(name, slice) {
  return {
    specificationVersion: 'v1',
    name,
    async *events() {
      for (const event of slice) yield event;
    },
  };
}

const halves = [events.filter((_, index) => index % 2 === 0), events.filter((_, index) => index % 2 === 1)];

async function round(withMetrics) {
  const audit = createMemoryAuditStore();
  const sources = [arraySource('file', halves[0]), arraySource('loki', halves[1])];
  const metrics = withMetrics ? createFishMetrics({ version: 'bench' }) : undefined;
  const engine = new FishEngine({
    catalog: () => catalog,
    sources,
    audit,
    notifier: noopNotifier,
    executor: noopExecutor,
    signer: new ApprovalSigner('b'.repeat(32)),
    publicUrl: 'http://127.0.0.1:8080',
    targets: hosts,
    ...(metrics
      ? {
          observer: fishEngineObserver(
            metrics,
            sources.map((source) => source.name),
          ),
        }
      : {}),
  });
  if (metrics) observeFish({ metrics, engine, audit, sources, catalog: holder, clock: systemClock, budgetCapEur: 0, health: () => undefined, heartbeat: () => undefined });
  global.gc?.();
  const cpuStarted = process.cpuUsage();
  const started = performance.now();
  await engine.start();
  while (engine.stats().events < events.length) await new Promise((resolve) => setImmediate(resolve));
  await engine.idle();
  if (metrics) await metrics.registry.metrics();
  const cpu = process.cpuUsage(cpuStarted);
  const wall = performance.now() - started;
  await engine.stop({ graceMs: 0 });
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { perSecond: events.length / (cpuMs / 1000), wall, stats: engine.stats() };
}

const mode = process.argv[2];
if (mode === 'with' || mode === 'without') {
  // One measurement: a warm-up round, then the measured one; the figure on the last stdout line.
  await round(mode === 'with');
  const { perSecond } = await round(mode === 'with');
  console.log(JSON.stringify({ perSecond }));
  process.exit(0);
}

const runOne = (which) => {
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), which], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_LINES: String(LINES) },
  });
  return JSON.parse(child.stdout.trim().split('\n').pop()).perSecond;
};
const without = [];
const withMetrics = [];
for (let index = 0; index < ROUNDS; index++) {
  // Alternate which goes first, so a trend in the machine's load does not favour one side.
  if (index % 2 === 0) {
    without.push(runOne('without'));
    withMetrics.push(runOne('with'));
  } else {
    withMetrics.push(runOne('with'));
    without.push(runOne('without'));
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const base = median(without);
const instrumented = median(withMetrics);
const costPercent = ((base - instrumented) / base) * 100;
say(
  `ingest through the bus: ${events.length.toLocaleString('en')} events, ${ROUNDS} processes each; without metrics ${Math.round(base).toLocaleString('en')} events/s per core, with metrics ${Math.round(instrumented).toLocaleString('en')} events/s: cost ${costPercent.toFixed(2)}% (medians)`,
);
console.log(
  JSON.stringify({
    bench: 'metrics',
    events: events.length,
    rounds: ROUNDS,
    withoutPerSecond: Math.round(base),
    withPerSecond: Math.round(instrumented),
    costPercent: +costPercent.toFixed(2),
    rawWithout: without.map(Math.round),
    rawWith: withMetrics.map(Math.round),
  }),
);
