// What `/metrics` costs the loop, measured so that the cost is not lost in the machine's noise
// (the machine is shared: another process's load changes the CPU time one event takes by more
// than the metrics do, and it changes from one millisecond to the next).
//
// 1. Per event: three engines in ONE process, each fed by two sources through the bus (the way
//    fish reads; through the bus and not by engine.ingest because `received`, the one counter
//    every event increments, is counted by the source pump):
//      without — no metrics;
//      with    — fish's metrics as `fish-sre run` attaches them: createFishMetrics, the engine
//                observer (fishEngineObserver: the engine keeps per-source counts, read when
//                scraped), observeFish's listeners;
//      again   — no metrics, a second engine: its ratio to `without` is the method's noise floor.
//    DAYS homelab days are cut into rounds of BATCH events; each engine ingests round i in turn
//    (the order rotating and reversing between rounds, so none goes first more often), so the
//    three measurements of a round lie milliseconds apart and see the same machine. New engines
//    every GENERATION rounds, made in a rotating order, so that an engine's own offset (where its
//    data landed) does not stay with one arm. CPU time per round by process.cpuUsage
//    (microsecond resolution; process.threadCpuUsage counts in 4 ms ticks on this kernel).
//    Figures: the median over rounds of each round's ratio to `without`, the 95 % confidence
//    interval of that median, the rounds' min and max.
//    Why one process: separate processes differ from each other by several per cent whatever
//    they run (measured: two processes without metrics, interleaved the same way, 3.7 % apart,
//    95 % CI 2.2 … 6.1), more than the effect; that is the spread one process per arm gave.
// 2. Process-wide monitors (what createFishMetrics registers through prom-client's
//    collectDefaultMetrics that costs while nothing is scraped: a PerformanceObserver on `gc`
//    and a 20 ms monitorEventLoopDelay) cost per GC and per timer tick, not per event, and below
//    the noise of part 1: measured where they cost (see monitorCosts) and scaled to full load by
//    the GCs counted per busy CPU second in part 1 and 50 ticks a second.
// 3. One scrape: GET /metrics on loopback (observeFish's scrape work, registry.metrics(), HTTP,
//    the client included) on a registry populated like a fish that has seen every catalog
//    pattern on every host, its CPU time amortised over a 15 s scrape interval: at full load,
//    over the 15 s of CPU one core spends ingesting; at the homelab day's mean rate
//    (bench/homelab-day.mjs: 489 k lines a day), against the CPU that ingest takes.
//
// Headline at full load: per event + monitors + amortised scrape.
// Prints one JSON line of figures on stdout, human text on stderr.
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { loadavg } from 'node:os';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';
import { CatalogHolder, createMemoryAuditStore, systemClock } from '@fish-sre/core';
import { AUDIT_WRITES, createFishMetrics, fishEngineObserver, observeFish, startMetricsServer } from '@fish-sre/fish';
import { Histogram, Registry } from 'prom-client';
import { benchEngine, catalog, catalogDir, hosts, incidentLines, logEvent, say } from './common.mjs';
import { homelabDay } from './homelab-day.mjs';

const DAYS = Number(process.env.BENCH_DAYS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? 2_000);
const WARMUP = 10;
const GENERATION = 60;
const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 40);
const SCRAPE_INTERVAL_S = 15;
const DAY_LINES = 489_000;
const SOURCES = ['file', 'loki', 'journal', 'prometheus'];

const holder = await CatalogHolder.load(catalogDir);

/**
 * The rounds: consecutive slices of DAYS homelab days (each day its own seed), each split between
 * the two sources; made one at a time, between rounds, so that memory stays small.
 */
function* prepareRounds() {
  const recent = [];
  let batch = [];
  for (let day = 0; day < DAYS; day++) {
    for (const line of homelabDay({ seed: 42 + day, start: Date.UTC(2026, 3, 20 + day), incidentLines, incidents: 50 })) {
      const text = JSON.stringify(line);
      // One line in twenty repeats an id seen seven lines before: the deduplication counter is exercised too.
      const id = batch.length % 20 === 19 ? recent[recent.length - 7] : createHash('sha1').update(text).digest('base64url');
      recent.push(id);
      if (recent.length > 16) recent.shift();
      batch.push(logEvent(line, id, batch.length % 2 ? 'loki' : 'file'));
      if (batch.length === BATCH) {
        yield [batch.filter((_, index) => index % 2 === 0), batch.filter((_, index) => index % 2 === 1)];
        batch = [];
      }
    }
  }
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
  const engine = benchEngine({ sources, audit, ...(metrics ? { observer: fishEngineObserver(metrics, SOURCES) } : {}) });
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
      // At least: the engine's own absence watch may add an event of its own.
      if (engine.stats().events < target) throw new Error(`ingested ${engine.stats().events} of ${target} events`);
    },
  };
}

/**
 * A second set of prom-client's process-wide monitors, made as prom-client 15 makes them
 * (lib/metrics/gc.js, lib/metrics/eventLoopLag.js with createFishMetrics' 20 ms precision), each
 * of which can be switched on and off: prom-client's own, once registered, stay on.
 */
function processMonitors() {
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const histogram = new Histogram({ name: 'gc_duration_seconds', help: 'GC', labelNames: ['kind'], buckets: [0.001, 0.01, 0.1, 1, 2, 5], registers: [new Registry()] });
  const gc = new PerformanceObserver((list) => {
    const entry = list.getEntries()[0];
    histogram.observe(Object.assign({ kind: kinds[entry.detail.kind] }, {}), entry.duration / 1000);
  });
  const loop = monitorEventLoopDelay({ resolution: 20 });
  return {
    gc: { on: () => gc.observe({ entryTypes: ['gc'] }), off: () => gc.disconnect() },
    loop: { on: () => loop.enable(), off: () => loop.disable() },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * What the process-wide monitors cost, measured where their cost arises rather than against a
 * whole ingest (where it is far below the noise): CPU µs per GC with the GC observer on vs off
 * (forced minor GCs, the observer's callback delivered within the measurement), and CPU µs per
 * 20 ms tick of the event-loop delay monitor (an idle loop with it on vs off); pairs interleaved,
 * medians of the pairs' differences. Run first, while the heap is small (a GC is quick, so its
 * noise is small). Without --expose-gc (npm run bench gives it) the per-GC figure is left out.
 */
async function monitorCosts() {
  const monitors = processMonitors();
  const perGc = [];
  if (global.gc) {
    const GCS = 100;
    const batch = async () => {
      const started = process.cpuUsage();
      for (let index = 0; index < GCS; index++) {
        global.gc({ type: 'minor' });
        await turn();
        await turn();
      }
      return cpuMsSince(started);
    };
    await batch();
    for (let pair = 0; pair < 30; pair++) {
      let on = 0;
      let off = 0;
      for (const observing of pair % 2 ? [true, false] : [false, true]) {
        if (observing) monitors.gc.on();
        const ms = await batch();
        if (observing) {
          monitors.gc.off();
          on = ms;
        } else off = ms;
      }
      perGc.push(((on - off) / GCS) * 1000);
    }
  }
  const perTick = [];
  const IDLE_MS = 100;
  const idle = async () => {
    const started = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    return cpuMsSince(started);
  };
  for (let pair = 0; pair < 30; pair++) {
    let on = 0;
    let off = 0;
    for (const monitoring of pair % 2 ? [true, false] : [false, true]) {
      if (monitoring) monitors.loop.on();
      const ms = await idle();
      if (monitoring) {
        monitors.loop.off();
        on = ms;
      } else off = ms;
    }
    perTick.push(((on - off) / (IDLE_MS / 20)) * 1000);
  }
  return { perGcUs: perGc.length ? spread(perGc) : undefined, perTickUs: spread(perTick) };
}

/** Runs the three arms round by round, interleaved; each arm's CPU ms per counted round, and the GCs seen. */
async function interleaved() {
  const metrics = createFishMetrics({ version: 'bench' });
  const kinds = ['without', 'with', 'again'];
  const cpu = Object.fromEntries(kinds.map((kind) => [kind, []]));
  let arms = {};
  let generation = -1;
  const started = process.cpuUsage();
  let index = -1;
  for (const round of prepareRounds()) {
    index++;
    // New engines every GENERATION rounds, made in a rotating order: an engine's own offset (where
    // its data landed) then falls on every arm alike instead of staying with one.
    if (index % GENERATION === 0) {
      for (const arm of Object.values(arms)) await arm.stop();
      generation++;
      arms = {};
      for (let position = 0; position < kinds.length; position++) {
        const kind = kinds[(position + generation) % kinds.length];
        arms[kind] = await ingester(kind === 'with' ? metrics : undefined);
      }
    }
    // The order rotates, and reverses every other cycle: no arm goes first (or follows another) more often.
    const order = kinds.map((_, position) => kinds[(position + index) % kinds.length]);
    if (Math.floor(index / kinds.length) % 2 === 1) order.reverse();
    for (const kind of order) {
      const cpuMs = await arms[kind].round(round);
      // The first rounds warm the JIT up: not counted.
      if (index >= WARMUP) cpu[kind].push(cpuMs);
    }
  }
  const busySeconds = cpuMsSince(started) / 1000;
  for (const arm of Object.values(arms)) await arm.stop();
  // Every GC of the phase, as fish's own GC histogram (prom-client's default collector) counted them.
  const gc = (await metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === 'nodejs_gc_duration_seconds');
  const gcs = gc.values.filter((value) => value.metricName === 'nodejs_gc_duration_seconds_count').reduce((sum, value) => sum + value.value, 0);
  return { cpu, gcsPerBusySecond: gcs / busySeconds, rounds: index + 1 - WARMUP };
}

/** CPU ms of GET /metrics on a registry populated like a fish that has seen every pattern on every host. */
async function scrapes() {
  const metrics = createFishMetrics({ version: 'bench' });
  const observer = fishEngineObserver(metrics, SOURCES);
  // The engine's per-source counts, as an attached engine would show them after a while.
  observer.attach?.({ bySource: () => new Map(SOURCES.map((source, index) => [source, { received: 1_000_000 * (index + 1), dropped: index, stale: 10 * index, duplicates: 5_000 * index }])) });
  const engine = benchEngine();
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
  for (const operation of AUDIT_WRITES) {
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
 * Median, quartiles, min and max of `values`, and the 95 % confidence interval of the median from the order
 * statistics (distribution-free: ranks n/2 ± 0.98·√n), which narrows as rounds are added.
 */
const spread = (values, digits = 2) => {
  const s = sorted(values);
  const half = 0.98 * Math.sqrt(s.length);
  const low = s[Math.max(0, Math.floor(s.length / 2 - half))];
  const high = s[Math.min(s.length - 1, Math.ceil(s.length / 2 + half))];
  const round = (value) => +value.toFixed(digits);
  const quartiles = [round(s[Math.floor(s.length / 4)]), round(s[Math.floor((3 * s.length) / 4)])];
  return { median: round(median(values)), ci95: [round(low), round(high)], quartiles, min: round(s[0]), max: round(s[s.length - 1]) };
};
const ratios = (arm, base) => arm.map((value, index) => ((value - base[index]) / base[index]) * 100);
const fmt = (figure, digits = 2) =>
  `${figure.median.toFixed(digits)} % (95 % CI of the median ${figure.ci95[0].toFixed(digits)} … ${figure.ci95[1].toFixed(digits)}; rounds: quartiles ${figure.quartiles[0].toFixed(digits)} … ${figure.quartiles[1].toFixed(digits)}, min ${figure.min.toFixed(digits)}, max ${figure.max.toFixed(digits)})`;

{
  const costs = await monitorCosts();
  const { cpu, gcsPerBusySecond, rounds } = await interleaved();
  const total = spread(ratios(cpu.with, cpu.without));
  const floor = spread(ratios(cpu.again, cpu.without));
  const baseMs = median(cpu.without);
  const perCore = BATCH / (baseMs / 1000);
  say(
    `ingest, ${rounds} rounds of ${BATCH.toLocaleString('en')} events through the bus (2 sources), three engines in one process interleaved round by round; ${Math.round(perCore).toLocaleString('en')} events/s per core without metrics`,
  );
  say(`  with fish's metrics (per event): ${fmt(total)}`);
  say(`  noise floor (a second engine without metrics): ${fmt(floor)}`);

  // The monitors at full load: GCs per second of busy CPU (as counted while ingesting) times the
  // cost of one, plus 50 ticks a second times the cost of one; as a share of one core.
  const ticksPerSecond = 1000 / 20;
  const monitorShare = (gcUs, tickUs) => +(((gcsPerBusySecond * Math.max(0, gcUs) + ticksPerSecond * Math.max(0, tickUs)) / 1e6) * 100).toFixed(3);
  const gcUs = costs.perGcUs ?? { median: 0, ci95: [0, 0] };
  const monitors = { median: monitorShare(gcUs.median, costs.perTickUs.median), ci95: [monitorShare(gcUs.ci95[0], costs.perTickUs.ci95[0]), monitorShare(gcUs.ci95[1], costs.perTickUs.ci95[1])] };
  say(
    `process-wide monitors: ${costs.perGcUs ? `GC observer ${gcUs.median.toFixed(1)} µs per GC (95 % CI ${gcUs.ci95[0].toFixed(1)} … ${gcUs.ci95[1].toFixed(1)}) × ${gcsPerBusySecond.toFixed(1)} GCs per busy second` : 'GC observer not measured (run with --expose-gc)'}; event-loop delay monitor ${costs.perTickUs.median.toFixed(1)} µs per 20 ms tick (95 % CI ${costs.perTickUs.ci95[0].toFixed(1)} … ${costs.perTickUs.ci95[1].toFixed(1)}): ${monitors.median.toFixed(3)} % of a core at full load (${monitors.ci95[0].toFixed(3)} … ${monitors.ci95[1].toFixed(3)})`,
  );

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
  const headline = {
    median: +(total.median + monitors.median + amortised.median).toFixed(2),
    ci95: [+(total.ci95[0] + monitors.ci95[0] + amortised.median).toFixed(2), +(total.ci95[1] + monitors.ci95[1] + amortised.median).toFixed(2)],
  };
  const load = loadavg().map((value) => +value.toFixed(2));
  say(
    `/metrics at full load: ${headline.median.toFixed(2)} % (95 % CI ${headline.ci95[0].toFixed(2)} … ${headline.ci95[1].toFixed(2)}) = per event ${total.median.toFixed(2)} + monitors ${monitors.median.toFixed(3)} + scrape ${amortised.median.toFixed(3)}; load average ${load.join(', ')}`,
  );
  console.log(
    JSON.stringify({
      bench: 'metrics',
      rounds,
      batch: BATCH,
      withoutPerSecond: Math.round(perCore),
      costPercent: headline.median,
      costPercentCi95: headline.ci95,
      perEventPercent: total,
      noiseFloorPercent: floor,
      monitorsPercent: monitors,
      gcObserverUsPerGc: costs.perGcUs,
      gcsPerBusySecond: +gcsPerBusySecond.toFixed(1),
      loopMonitorUsPerTick: costs.perTickUs,
      scrapeCpuMs: scrapeMs,
      registryMetricsCpuMs: +median(scrape.registry).toFixed(2),
      scrapeSeries: scrape.series,
      scrapeAmortisedPercent: amortised,
      dayScrapeVsIngestPercent: +((scrapeMs.median / dayIngestMs) * 100).toFixed(0),
      loadAverage: load,
    }),
  );
}
