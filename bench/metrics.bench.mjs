// What `/metrics` costs the loop, measured so that the cost is not lost in the machine's noise
// (the machine is shared: another process's load changes the CPU time one event takes by more
// than the metrics do, and it changes from one millisecond to the next).
//
// 1. Ingest: four engines in ONE process, each fed by two sources through the bus (the way fish
//    reads; through the bus and not by engine.ingest because `received`, the one counter every
//    event increments, is counted by the source pump):
//      without  — no metrics;
//      with     — fish's metrics as `fish-sre run` attaches them: createFishMetrics, the engine
//                 observer counting received, dropped, stale and deduplicated events per source,
//                 observeFish's listeners;
//      monitors — no metrics, but while it ingests a second set of prom-client's process-wide
//                 monitors is switched on: a PerformanceObserver on `gc` observing one histogram
//                 per batch of GC entries, and a 20 ms monitorEventLoopDelay, made as prom-client
//                 15 makes them (lib/metrics/gc.js, lib/metrics/eventLoopLag.js; what
//                 createFishMetrics registers through collectDefaultMetrics costs per GC and per
//                 timer tick, not per event, and cannot be switched off once registered);
//      again    — no metrics, a second engine: its ratio to `without` is the method's noise floor.
//    The same day of homelab logs is cut into rounds of BATCH events; each engine ingests round i
//    in turn (the order rotating and reversing between rounds, so none goes first more often),
//    so the four measurements of a round lie milliseconds apart and see the same machine. CPU
//    time per round by process.cpuUsage (microsecond resolution; process.threadCpuUsage counts
//    in 4 ms ticks on this kernel). Figures: the median over rounds of each round's ratio to
//    `without`, the 95 % confidence interval of that median, the rounds' min and max.
//    Why one process: separate processes differ from each other by several per cent whatever
//    they run (measured: two processes without metrics, interleaved the same way, 3.7 % apart,
//    95 % CI 2.2 … 6.1), more than the effect, and that is the spread one process per arm gives.
// 2. One scrape: GET /metrics on loopback (observeFish's scrape work, registry.metrics(), HTTP,
//    the client included) on a registry populated like a fish that has seen every catalog
//    pattern on every host, its CPU time amortised over a 15 s scrape interval: at full load,
//    over the 15 s of CPU one core spends ingesting; at the homelab day's mean rate
//    (bench/homelab-day.mjs: 489 k lines a day), against the CPU that ingest takes.
//
// Headline: the with/without ingest cost (per event; the monitors run in every arm) + the
// monitors' own cost + the amortised scrape.
// Prints one JSON line of figures on stdout, human text on stderr.
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { loadavg } from 'node:os';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';
import { ApprovalSigner, CatalogHolder, FishEngine, createMemoryAuditStore, systemClock } from '@fish-sre/core';
import { createFishMetrics, fishEngineObserver, observeFish, startMetricsServer } from '@fish-sre/fish';
import { Histogram, Registry } from 'prom-client';
import { catalog, catalogDir, hosts, incidentLines, logEvent, noopExecutor, noopNotifier, say } from './common.mjs';
import { homelabDay } from './homelab-day.mjs';

const LINES = Number(process.env.BENCH_LINES ?? 480_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 2_000);
const WARMUP = 10;
const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 40);
const SCRAPE_INTERVAL_S = 15;
const DAY_LINES = 489_000;
const SOURCES = ['file', 'loki', 'journal', 'prometheus'];

const holder = await CatalogHolder.load(catalogDir);

/** The rounds: consecutive slices of a homelab day, each split between the two sources. */
function prepareRounds() {
  const events = [];
  for (const line of homelabDay({ incidentLines, incidents: 50 })) {
    const text = JSON.stringify(line);
    // One line in twenty repeats an earlier id: the deduplication counter is exercised too.
    const id = events.length % 20 === 19 ? events[events.length - 7].id : createHash('sha1').update(text).digest('base64url');
    events.push(logEvent(line, id, events.length % 2 ? 'loki' : 'file'));
    if (events.length >= LINES) break;
  }
  const rounds = [];
  for (let start = 0; start < events.length; start += BATCH) {
    const slice = events.slice(start, start + BATCH);
    rounds.push([slice.filter((_, index) => index % 2 === 0), slice.filter((_, index) => index % 2 === 1)]);
  }
  return rounds;
}

/** A source that yields what it is fed, as fast as the bus takes it, and waits for more. */
function fedSource(name) {
  let queue = [];
  let wake;
  let ended = false;
  const poke = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  return {
    source: {
      specificationVersion: 'v1',
      name,
      async *events() {
        for (;;) {
          if (queue.length === 0) {
            if (ended) return;
            await new Promise((resolve) => {
              wake = resolve;
            });
            continue;
          }
          const batch = queue;
          queue = [];
          for (const event of batch) yield event;
        }
      },
    },
    feed(batch) {
      queue = batch;
      poke();
    },
    end() {
      ended = true;
      poke();
    },
  };
}

const cpuMsSince = (started) => {
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000;
};

/** An engine fed by two sources (`file`, `loki`) through the bus, with fish's metrics when given. */
async function ingester(metrics) {
  const audit = createMemoryAuditStore();
  const fed = [fedSource('file'), fedSource('loki')];
  const sources = fed.map((one) => one.source);
  const engine = new FishEngine({
    catalog: () => catalog,
    sources,
    audit,
    notifier: noopNotifier,
    executor: noopExecutor,
    signer: new ApprovalSigner('b'.repeat(32)),
    publicUrl: 'http://127.0.0.1:8080',
    targets: hosts,
    ...(metrics ? { observer: fishEngineObserver(metrics, SOURCES) } : {}),
  });
  if (metrics) observeFish({ metrics, engine, audit, sources, catalog: holder, clock: systemClock, budgetCapEur: 5, health: () => undefined, heartbeat: () => undefined });
  await engine.start();
  let target = 0;
  return {
    engine,
    /** Ingests one round's events; the CPU ms it took. */
    async round([file, loki]) {
      target += file.length + loki.length;
      const started = process.cpuUsage();
      fed[0].feed(file);
      fed[1].feed(loki);
      while (engine.stats().events < target) await new Promise((resolve) => setImmediate(resolve));
      await engine.idle();
      // Two more turns of the loop: what the round set off (a GC's PerformanceObserver callback,
      // delivered two immediates later) is charged to it.
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
      return cpuMsSince(started);
    },
    async stop() {
      for (const one of fed) one.end();
      await engine.stop({ graceMs: 0 });
      if (engine.stats().events !== target) throw new Error(`ingested ${engine.stats().events} of ${target} events`);
    },
  };
}

/**
 * A second set of prom-client's process-wide monitors, made as prom-client 15 makes them
 * (lib/metrics/gc.js, lib/metrics/eventLoopLag.js with createFishMetrics' 20 ms precision), that
 * can be switched on and off: prom-client's own, once registered, stay on.
 */
function processMonitors() {
  let gcs = 0;
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const histogram = new Histogram({ name: 'gc_duration_seconds', help: 'GC', labelNames: ['kind'], buckets: [0.001, 0.01, 0.1, 1, 2, 5], registers: [new Registry()] });
  const gc = new PerformanceObserver((list) => {
    const entry = list.getEntries()[0];
    gcs++;
    histogram.observe(Object.assign({ kind: kinds[entry.detail.kind] }, {}), entry.duration / 1000);
  });
  const loop = monitorEventLoopDelay({ resolution: 20 });
  return {
    on() {
      gc.observe({ entryTypes: ['gc'] });
      loop.enable();
    },
    off() {
      loop.disable();
      gc.disconnect();
    },
    gcs: () => gcs,
  };
}

/** Runs the four arms round by round, interleaved; each arm's CPU ms per counted round. */
async function interleaved() {
  const rounds = prepareRounds();
  const monitors = processMonitors();
  const arms = {
    without: await ingester(undefined),
    with: await ingester(createFishMetrics({ version: 'bench' })),
    monitors: await ingester(undefined),
    again: await ingester(undefined),
  };
  const kinds = Object.keys(arms);
  const cpu = Object.fromEntries(kinds.map((kind) => [kind, []]));
  for (const [index, round] of rounds.entries()) {
    // The order rotates, and reverses every other cycle: no arm goes first (or follows another) more often.
    const order = kinds.map((_, position) => kinds[(position + index) % kinds.length]);
    if (Math.floor(index / kinds.length) % 2 === 1) order.reverse();
    for (const kind of order) {
      if (kind === 'monitors') monitors.on();
      const cpuMs = await arms[kind].round(round);
      if (kind === 'monitors') monitors.off();
      // The first rounds warm the JIT up: not counted.
      if (index >= WARMUP) cpu[kind].push(cpuMs);
    }
  }
  for (const arm of Object.values(arms)) await arm.stop();
  return { cpu, gcs: monitors.gcs(), rounds: rounds.length - WARMUP };
}

/** CPU ms of GET /metrics on a registry populated like a fish that has seen every pattern on every host. */
async function scrapes() {
  const metrics = createFishMetrics({ version: 'bench' });
  const observer = fishEngineObserver(metrics, SOURCES);
  for (const source of SOURCES) for (const counter of ['received', 'dropped', 'stale', 'duplicates']) observer.count(counter, Object.freeze({ source }));
  const engine = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit: createMemoryAuditStore(),
    notifier: noopNotifier,
    executor: noopExecutor,
    signer: new ApprovalSigner('b'.repeat(32)),
    publicUrl: 'http://127.0.0.1:8080',
    targets: hosts,
  });
  const sources = SOURCES.map((name) => ({ specificationVersion: 'v1', name, async *events() {}, health: () => ({ state: 'connected' }) }));
  observeFish({ metrics, engine, audit: createMemoryAuditStore(), sources, catalog: holder, clock: systemClock, budgetCapEur: 5, health: () => undefined, heartbeat: () => undefined });
  const outcomes = ['succeeded', 'failed', 'rolled_back', 'escalated', 'interrupted'];
  for (const pattern of catalog.patterns) {
    for (const host of hosts) metrics.incidents.inc({ pattern: pattern.id, host });
    for (const outcome of ['proposed', 'approved', 'denied', 'expired']) metrics.proposals.inc({ pattern: pattern.id, outcome });
    metrics.approvalLatency.observe({ pattern: pattern.id }, 42);
    metrics.executionDuration.observe({ pattern: pattern.id }, 7);
    for (const host of hosts) for (const outcome of outcomes) metrics.executions.inc({ pattern: pattern.id, host, outcome });
  }
  for (const operation of [
    'insertIncident',
    'insertProposal',
    'setProposalNotification',
    'transitionProposal',
    'insertExecution',
    'transitionExecution',
    'recordNotification',
    'reserveBudget',
    'settleBudget',
    'recordSystemEvent',
  ]) {
    metrics.auditWriteDuration.observe({ operation }, 0.002);
  }
  for (const notifier of ['ntfy', 'telegram']) for (const kind of ['proposal', 'update', 'escalation', 'unknown', 'budget']) metrics.notificationsSent.inc({ notifier, kind });
  for (const result of ['ok', 'error']) metrics.llmCalls.inc({ provider: 'claude', result });
  for (const direction of ['input', 'output']) metrics.llmTokens.inc({ provider: 'claude', direction }, 1000);
  const server = await startMetricsServer({ metrics, host: '127.0.0.1', port: 0 });
  const scrapeOnce = () =>
    new Promise((resolve, reject) => {
      get(`${server.url}/metrics`, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve(text));
      }).on('error', reject);
    });
  let body = '';
  for (let index = 0; index < 5; index++) body = await scrapeOnce(); // warm-up
  const http = [];
  const registry = [];
  for (let index = 0; index < SCRAPES; index++) {
    let started = process.cpuUsage();
    await scrapeOnce();
    http.push(cpuMsSince(started));
    started = process.cpuUsage();
    await metrics.registry.metrics();
    registry.push(cpuMsSince(started));
  }
  await server.close();
  return { http, registry, series: body.split('\n').filter((line) => line && !line.startsWith('#')).length };
}

const sorted = (values) => [...values].sort((a, b) => a - b);
const median = (values) => {
  const s = sorted(values);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/**
 * Median, min and max of `values`, and the 95 % confidence interval of the median from the order
 * statistics (distribution-free: ranks n/2 ± 0.98·√n), which narrows as rounds are added.
 */
const spread = (values, digits = 2) => {
  const s = sorted(values);
  const half = 0.98 * Math.sqrt(s.length);
  const low = s[Math.max(0, Math.floor(s.length / 2 - half))];
  const high = s[Math.min(s.length - 1, Math.ceil(s.length / 2 + half))];
  const round = (value) => +value.toFixed(digits);
  return { median: round(median(values)), ci95: [round(low), round(high)], min: round(s[0]), max: round(s[s.length - 1]) };
};
const ratios = (arm, base) => arm.map((value, index) => ((value - base[index]) / base[index]) * 100);
const fmt = (figure, digits = 2) =>
  `${figure.median.toFixed(digits)} % (95 % CI of the median ${figure.ci95[0].toFixed(digits)} … ${figure.ci95[1].toFixed(digits)}; rounds min ${figure.min.toFixed(digits)}, max ${figure.max.toFixed(digits)})`;

{
  const { cpu, gcs, rounds } = await interleaved();
  const total = spread(ratios(cpu.with, cpu.without));
  const monitors = spread(ratios(cpu.monitors, cpu.without));
  const floor = spread(ratios(cpu.again, cpu.without));
  const baseMs = median(cpu.without);
  const perCore = BATCH / (baseMs / 1000);
  say(
    `ingest, ${rounds} rounds of ${BATCH.toLocaleString('en')} events through the bus (2 sources), four engines in one process interleaved round by round; ${Math.round(perCore).toLocaleString('en')} events/s per core without metrics`,
  );
  say(`  with fish's metrics (per event):  ${fmt(total)}`);
  say(`  prom-client's process-wide monitors: ${fmt(monitors)}; ${gcs} GC callbacks in ${rounds + WARMUP} rounds`);
  say(`  noise floor (a second engine without metrics): ${fmt(floor)}`);

  const scrape = await scrapes();
  const scrapeMs = spread(scrape.http);
  const intervalMs = SCRAPE_INTERVAL_S * 1000;
  // At full load one core ingests for the whole interval: the scrape's share of that CPU.
  const amortised = { median: +((scrapeMs.median / intervalMs) * 100).toFixed(3), min: +((scrapeMs.min / intervalMs) * 100).toFixed(3), max: +((scrapeMs.max / intervalMs) * 100).toFixed(3) };
  const dayRate = DAY_LINES / 86_400;
  const dayIngestMs = dayRate * SCRAPE_INTERVAL_S * (baseMs / BATCH);
  say(
    `one scrape, ${scrape.series} series (GET /metrics on loopback, client included; registry.metrics() alone ${median(scrape.registry).toFixed(2)} ms): ${scrapeMs.median.toFixed(2)} ms CPU (min ${scrapeMs.min.toFixed(2)}, max ${scrapeMs.max.toFixed(2)})`,
  );
  say(`  every ${SCRAPE_INTERVAL_S} s at full load (one core ingesting): ${amortised.median.toFixed(3)} % (min ${amortised.min.toFixed(3)}, max ${amortised.max.toFixed(3)})`);
  say(
    `  every ${SCRAPE_INTERVAL_S} s at the homelab day's mean rate (${dayRate.toFixed(1)} events/s: ${dayIngestMs.toFixed(2)} ms of ingest CPU per interval): ${((scrapeMs.median / dayIngestMs) * 100).toFixed(0)} % of the ingest's CPU, ${amortised.median.toFixed(3)} % of one core`,
  );
  // A negative median (the monitors cheaper than nothing) is noise: counted as 0, not subtracted.
  const monitorsPart = Math.max(0, monitors.median);
  const headline = {
    median: +(total.median + monitorsPart + amortised.median).toFixed(2),
    ci95: [+(total.ci95[0] + Math.max(0, monitors.ci95[0]) + amortised.median).toFixed(2), +(total.ci95[1] + Math.max(0, monitors.ci95[1]) + amortised.median).toFixed(2)],
  };
  const load = loadavg().map((value) => +value.toFixed(2));
  say(
    `/metrics at full load: ${headline.median.toFixed(2)} % (95 % CI ${headline.ci95[0].toFixed(2)} … ${headline.ci95[1].toFixed(2)}) = per event ${total.median.toFixed(2)} + monitors ${monitorsPart.toFixed(2)} + scrape ${amortised.median.toFixed(3)}; load average ${load.join(', ')}`,
  );
  console.log(
    JSON.stringify({
      bench: 'metrics',
      rounds,
      batch: BATCH,
      withoutPerSecond: Math.round(perCore),
      costPercent: headline.median,
      costPercentCi95: headline.ci95,
      ingestPercent: total,
      monitorsPercent: monitors,
      noiseFloorPercent: floor,
      gcs,
      scrapeCpuMs: scrapeMs,
      registryMetricsCpuMs: +median(scrape.registry).toFixed(2),
      scrapeSeries: scrape.series,
      scrapeAmortisedPercent: amortised,
      dayScrapeVsIngestPercent: +((scrapeMs.median / dayIngestMs) * 100).toFixed(0),
      loadAverage: load,
    }),
  );
}
