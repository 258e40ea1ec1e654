// Matcher benchmarks: ingest throughput through parse -> dedup -> rules -> matcher next to a bare
// JSON.parse of the same lines; the same with the catalog plus 480 generated patterns; the heap
// of the prefilter index for 500 patterns; the time to match a 256 KiB adversarial line for every
// catalog regex. Ratios are against baselines measured in this same run, each in a process of its
// own: the baseline and the ingest in turn, round after round, each ratio the median of the
// rounds' ratios (see below).
// Prints one JSON line of figures on stdout, human text on stderr.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { PatternSchema } from '@fish-sre/core';
import { Matcher, sampleToEvent } from '@fish-sre/core/internal';
import { benchEngine, catalog, incidentLines, logEvent, say } from './common.mjs';
import { homelabDay, rng } from './homelab-day.mjs';

/**
 * 480 patterns shaped like the catalog's: a service scope and a message regex with literals,
 * alternations and character classes, each distinct. None is meant to match the day's lines.
 */
function generatedPatterns(count) {
  const random = rng(42);
  const services = ['sonarr', 'radarr', 'jellyfin', 'immich-server', 'paperless', 'vaultwarden', 'nextcloud', 'gitea', 'mosquitto', 'zigbee2mqtt', 'home-assistant', 'frigate'];
  const verbs = ['failed to open', 'cannot connect to', 'timed out waiting for', 'refused connection from', 'lost lease on', 'could not parse'];
  const nouns = ['database', 'upstream', 'socket', 'config file', 'volume', 'certificate', 'broker', 'index'];
  return Array.from({ length: count }, (_, index) => {
    const service = services[index % services.length];
    const verb = verbs[Math.floor(random() * verbs.length)];
    const noun = nouns[Math.floor(random() * nouns.length)];
    return PatternSchema.parse({
      id: `generated-${index}`,
      title: `Generated ${index}`,
      target_host: '$event_host',
      diagnosis: 'generated for the benchmark',
      required_signals: [{ id: 'line', log: { message: `E${1000 + index}: ${verb} (the )?${noun} "[^"]+" \\((errno|code) [0-9]+\\)`, service: `^${service}(-[0-9]+)?$` } }],
      samples: { match: [{ message: `E${1000 + index}: ${verb} ${noun} "x" (errno 5)`, service }] },
    });
  });
}

/**
 * What the file source does per line: JSON parse, normalise, id from the line's place in the file
 * (the file's prefix, made once per file, then the offset where the line ends).
 */
const FILE_ID_PREFIX = 'file:803.2n9c.0:';
let offset = 0;
function parseLine(text) {
  const line = JSON.parse(text);
  offset += text.length + 1;
  return logEvent(line, FILE_ID_PREFIX + offset);
}

/** CPU time of one call of `run`, in ms. */
function cpuTime(run) {
  globalThis.gc?.();
  const started = process.cpuUsage();
  run();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const LINES = Number(process.env.BENCH_LINES ?? 200_000);
const texts = [];
for (const line of homelabDay({ incidentLines, incidents: 200 })) {
  texts.push(JSON.stringify(line));
  if (texts.length >= LINES) break;
}
const perSecond = (ms) => Math.round(texts.length / (ms / 1000));

// ---- 1 and 2. Bare JSON.parse of the same lines (the baseline) and ingest with the catalog, in
// turn in each round so that the machine's other load falls on both alike; then, in a second
// process, ingest with the catalog and with the catalog plus 480 generated patterns, in turn. Each
// ratio is the median of its rounds' ratios. Two processes: a fish runs one catalog, and two
// engines with different catalogs alternating in one process make V8's optimised code serve both
// (the catalog ingest measured ≈ 10 % slower next to the 498-pattern one than alone).
let sink = 0;
const generated = generatedPatterns(480);
const bigPatterns = [...catalog.patterns, ...generated];
// The engine is built before the clock starts: building it (compiling the catalog's scopes and
// its literal automaton) happens once per start or catalog reload, not per line.
function ingestMs(patterns) {
  const engine = benchEngine({ patterns });
  return cpuTime(() => {
    for (const text of texts) engine.ingest(parseLine(text));
  });
}
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
// Rounds run first and not counted: a fish ingests for days, so the figure is its steady state,
// not V8 compiling the hot path (the first rounds of a process measured 0.15-0.27x, the later ones
// settle within a few percent of each other).
const WARMUP_ROUNDS = Number(process.env.BENCH_WARMUP_ROUNDS ?? 2);
const mode = process.argv[2];
if (mode === 'ingest' || mode === 'size') {
  const measured = [];
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    let figures;
    if (mode === 'ingest') {
      const parse = cpuTime(() => {
        for (const text of texts) sink += JSON.parse(text).message.length;
      });
      figures = { parse, catalog: ingestMs(catalog.patterns) };
    } else figures = { catalog: ingestMs(catalog.patterns), big: ingestMs(bigPatterns) };
    if (round >= WARMUP_ROUNDS) measured.push(figures);
  }
  console.log(JSON.stringify({ rounds: measured, sink }));
  process.exit(0);
}
const inChild = (which) => {
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), which], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  return JSON.parse(child.stdout.trim().split('\n').pop()).rounds;
};
const rounds = inChild('ingest');
const sizeRounds = inChild('size');
const parseMs = median(rounds.map((round) => round.parse));
const catalogMs = median(rounds.map((round) => round.catalog));
const bigMs = median(sizeRounds.map((round) => round.big));
const figures = {
  rounds: ROUNDS,
  jsonParseLinesPerSecond: perSecond(parseMs),
  ingestLinesPerSecond: perSecond(catalogMs),
  ingestVsJsonParse: +median(rounds.map((round) => round.parse / round.catalog)).toFixed(3),
  patterns: catalog.patterns.length,
  ingestLinesPerSecondBigCatalog: perSecond(bigMs),
  bigCatalogPatterns: catalog.patterns.length + generated.length,
  bigVsCatalog: +median(sizeRounds.map((round) => round.catalog / round.big)).toFixed(3),
};
say(`bare JSON.parse: ${figures.jsonParseLinesPerSecond.toLocaleString('en')} lines/s per core`);
say(`ingest (parse -> dedup -> rules -> matcher), ${figures.patterns} patterns: ${figures.ingestLinesPerSecond.toLocaleString('en')} lines/s = ${figures.ingestVsJsonParse}x JSON.parse`);
say(`ingest, ${figures.bigCatalogPatterns} patterns: ${figures.ingestLinesPerSecondBigCatalog.toLocaleString('en')} lines/s = ${figures.bigVsCatalog}x the ${figures.patterns}-pattern figure`);

// ---- 3. Heap of the matcher (prefilter index and compiled regexes) for 500 patterns ----------
const fiveHundred = [...catalog.patterns, ...generated].slice(0, 500);
globalThis.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const matchers = [new Matcher({ patterns: fiveHundred })];
globalThis.gc?.();
const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
const stats = matchers[0].stats();
figures.matcherHeapMb500 = +heapMb.toFixed(2);
figures.indexStates500 = stats.indexStates;
figures.unindexedSignals500 = stats.unindexedSignals;
say(
  `matcher for 500 patterns: ${heapMb.toFixed(2)} MB heap (literal automaton ${stats.indexStates} states, ${(stats.indexBytes / 1024).toFixed(0)} KiB; ${stats.unindexedSignals} signals without a literal)`,
);

// ---- 4. A 256 KiB adversarial line for every catalog regex -----------------------------------
// The line repeats the start of the regex's own samples (what makes a backtracking engine retry
// from every position) and never completes a match. Measured with the cut disabled, so the
// figure is the engine's, and with the default cut (16 KiB).
const SIZE = 256 * 1024;
const worst = { full: { ms: 0, pattern: '' }, cut: { ms: 0, pattern: '' } };
for (const [label, options] of [
  ['full', { maxMessageLength: SIZE + 1 }],
  ['cut', {}],
]) {
  for (const pattern of catalog.patterns) {
    const sample = pattern.samples.match.map(sampleToEvent).find((event) => event.kind === 'log');
    if (!sample) continue;
    const matcher = new Matcher({ patterns: [pattern] }, options);
    const unit = `${sample.message.slice(0, Math.max(8, Math.floor(sample.message.length * 0.8)))} `;
    const message = unit.repeat(Math.ceil(SIZE / unit.length)).slice(0, SIZE);
    const event = { ...sample, id: 'adversarial', message };
    matcher.match(event);
    let best = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      matcher.match(event);
      best = Math.min(best, performance.now() - started);
    }
    if (best > worst[label].ms) worst[label] = { ms: best, pattern: pattern.id };
  }
}
figures.adversarial256KiBMs = +worst.full.ms.toFixed(2);
figures.adversarial256KiBPattern = worst.full.pattern;
figures.adversarial256KiBCutMs = +worst.cut.ms.toFixed(2);
say(`256 KiB adversarial line, slowest catalog regex: ${worst.full.ms.toFixed(2)} ms (${worst.full.pattern}) uncut; ${worst.cut.ms.toFixed(2)} ms with the default 16 KiB cut`);

console.log(JSON.stringify({ bench: 'matcher', lines: texts.length, ...figures }));
