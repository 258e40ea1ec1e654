// Pipeline benchmarks (issue 2 and issue 4): throughput of parse -> dedup -> rules -> matcher with
// the bundled catalog, RSS while overloaded ten times, LLM calls and EUR over a day of homelab logs
// versus classifying every warn/error line (the seed's approach), and detection latency.
// Prints one JSON line of figures on stdout, human text on stderr.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Classifier, ManualClock } from '@fish-sre/core';
import { sampleToEvent } from '@fish-sre/core/internal';
import { createSqliteAuditStore } from '@fish-sre/audit-sqlite';
import { costEur, defaultPriceTable, lookupPrice } from '@fish-sre/llm-claude';
import { benchEngine, catalog, hosts, incidentLines, logEvent, say } from './common.mjs';
import { homelabDay } from './homelab-day.mjs';

function makeEngine(options = {}) {
  return benchEngine({
    ...(options.audit ? { audit: options.audit } : {}),
    ...(options.targets ? { targets: options.targets } : {}),
    clock: options.clock,
    classifier: options.classifier,
  });
}

/** What a source does per line: JSON parse, normalise, stable id. */
function parseLine(text) {
  return logEvent(JSON.parse(text), createHash('sha1').update(text).digest('base64url'));
}

// ---- 1. Throughput -------------------------------------------------------------------------
const LINES = Number(process.env.BENCH_LINES ?? 400_000);
const texts = [];
for (const line of homelabDay({ incidentLines, incidents: 200 })) {
  texts.push(JSON.stringify(line));
  if (texts.length >= LINES) break;
}
{
  const warm = makeEngine();
  for (let index = 0; index < 20_000; index++) warm.ingest(parseLine(texts[index]));
  await warm.idle();
}
const engine = makeEngine();
const started = performance.now();
const cpuStarted = process.cpuUsage();
for (const text of texts) engine.ingest(parseLine(text));
const elapsed = performance.now() - started;
const cpu = process.cpuUsage(cpuStarted);
await engine.idle();
const cpuMs = (cpu.user + cpu.system) / 1000;
// Lines per second of CPU time: the figure for "one core", unaffected by other processes.
const linesPerSecond = Math.round(texts.length / (cpuMs / 1000));
const linesPerWallSecond = Math.round(texts.length / (elapsed / 1000));
say(
  `throughput: ${texts.length} lines, ${cpuMs.toFixed(0)} ms CPU (${elapsed.toFixed(0)} ms wall) = ${linesPerSecond.toLocaleString('en')} lines/s per core (parse -> dedup -> rules -> matcher, ${catalog.patterns.length} patterns), incidents ${engine.stats().incidents}`,
);

// ---- 3. A day of logs: LLM calls and EUR, ours vs classify-every-warn/error ------------------
const price = lookupPrice(defaultPriceTable(), 'claude-sonnet-4-6').price;
const CALL_TOKENS = { inputTokens: 900, outputTokens: 60, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
const perCallEur = costEur(price, CALL_TOKENS);
let llmCalls = 0;
const fakeLlm = {
  specificationVersion: 'v1',
  provider: 'bench',
  modelId: 'claude-sonnet-4-6',
  async generate(request) {
    llmCalls++;
    const allowed = request.schema.jsonSchema.properties.pattern_id.enum;
    return {
      text: '',
      object: { pattern_id: allowed[0], reason: 'bench' },
      toolCalls: [],
      usage: { inputTokens: 900, outputTokens: 60, costEur: perCallEur },
      finishReason: 'stop',
      model: 'claude-sonnet-4-6',
      warnings: [],
    };
  },
  async *stream() {},
};
const dayClock = new ManualClock(Date.UTC(2026, 3, 20));
const dayEngine = makeEngine({ clock: dayClock, classifier: new Classifier({ llm: fakeLlm, clock: dayClock }) });
let dayLines = 0;
let seedCalls = 0;
for (const line of homelabDay({ incidentLines, incidents: 40, seed: 7 })) {
  dayLines++;
  dayClock.set(line.time);
  const event = parseLine(JSON.stringify(line));
  // The seed classified every line at warn or above, minus its fail2ban deny filter.
  if (['warn', 'error', 'critical'].includes(event.level) && event.service !== 'fail2ban') seedCalls++;
  dayEngine.ingest(event);
  if (dayLines % 5000 === 0) await dayEngine.idle();
}
await dayEngine.idle();
const dayStats = dayEngine.stats();
const ratio = seedCalls / Math.max(1, llmCalls);
say(
  `day replay: ${dayLines.toLocaleString('en')} lines, ${dayStats.incidents} incidents (${dayStats.unknownIncidents} unknown), rate-limited ${dayStats.rateLimited}, cooldown-suppressed ${dayStats.suppressedByCooldown}`,
);
say(
  `  LLM calls: fish ${llmCalls} (${(llmCalls * perCallEur).toFixed(3)} EUR) vs every warn/error ${seedCalls.toLocaleString('en')} (${(seedCalls * perCallEur).toFixed(2)} EUR): ${ratio.toFixed(0)}x fewer`,
);

// ---- 4. Detection latency (line in -> proposal written and sent), deterministic path ---------
const directory = await mkdtemp(join(tmpdir(), 'fish-bench-'));
const audit = createSqliteAuditStore({ path: join(directory, 'audit.sqlite') });
await audit.init();
const latencyTargets = [...hosts, ...catalog.patterns.map((pattern) => pattern.target_host), ...Array.from({ length: 300 }, (_, index) => `node-${index}`)];
const latencyEngine = makeEngine({ audit, targets: latencyTargets });
const latencies = [];
const deterministic = catalog.patterns.filter((pattern) => pattern.fix && pattern.trigger.count === 1 && pattern.required_signals.every((signal) => signal.log));
for (let index = 0; index < 300; index++) {
  const pattern = deterministic[index % deterministic.length];
  const event = sampleToEvent(pattern.samples.match[0], index);
  Object.assign(event, { id: `lat-${index}`, time: Date.now(), host: `node-${index}` });
  const noise = texts.slice((index * 50) % 100_000, ((index * 50) % 100_000) + 50).map(parseLine);
  for (const line of noise) latencyEngine.ingest(line);
  const t0 = performance.now();
  const proposed = new Promise((resolve) => latencyEngine.once('proposal', resolve));
  const work = latencyEngine.ingest(event);
  if (!work) throw new Error(`bench: the ${pattern.id} sample did not open an incident`);
  await proposed;
  latencies.push(performance.now() - t0);
  await work;
}
latencies.sort((a, b) => a - b);
const percentile = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
say(`detection latency (line in -> proposal, sqlite audit): n=${latencies.length} p50 ${percentile(50).toFixed(2)} ms, p99 ${percentile(99).toFixed(2)} ms`);
await audit.close();
await rm(directory, { recursive: true, force: true });

console.log(
  JSON.stringify({
    bench: 'pipeline',
    linesPerSecond,
    lines: texts.length,
    patterns: catalog.patterns.length,
    linesPerWallSecond,
    day: { lines: dayLines, incidents: dayStats.incidents, llmCalls, llmEur: +(llmCalls * perCallEur).toFixed(4), seedCalls, seedEur: +(seedCalls * perCallEur).toFixed(2), ratio: +ratio.toFixed(1) },
    detectionLatencyMs: { n: latencies.length, p50: +percentile(50).toFixed(3), p99: +percentile(99).toFixed(3) },
  }),
);
