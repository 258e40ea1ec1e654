// Overload x10 (issue 2): a producer offers events ten times faster than the pipeline consumes
// them, for a few seconds. The bus is bounded: drops are counted and RSS stays flat. Run in its
// own process so the figure is the pipeline's, not the benchmark's other data.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

// Runs itself twice in child processes: with Node's default V8 flags, and with the young
// generation capped (--max-semi-space-size=4, what deploy/fish.service sets). Heap used stays flat
// in both; RSS differs only by how much garbage V8 keeps room for.
if (!process.env.FISH_BENCH_CHILD) {
  const runs = {};
  for (const [label, flags] of [
    ['defaultFlags', []],
    ['semiSpace4', ['--max-semi-space-size=4']],
  ]) {
    const child = spawnSync(process.execPath, ['--expose-gc', ...flags, new URL(import.meta.url).pathname], {
      env: { ...process.env, FISH_BENCH_CHILD: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    });
    runs[label] = JSON.parse(child.stdout.trim().split('\n').pop());
  }
  console.log(JSON.stringify({ bench: 'overload', ...runs }));
  process.exit(0);
}
import { ApprovalSigner, FishEngine, createMemoryAuditStore, loadCatalog } from '@fish-sre/core';
import { homelabDay } from './homelab-day.mjs';

const catalog = await loadCatalog(new URL('../catalog', import.meta.url).pathname);
const noop = { specificationVersion: 'v1', name: 'noop', propose: async () => ({ id: 'n', channel: 'noop' }), notify: async () => ({ id: 'n', channel: 'noop' }) };
const executor = { specificationVersion: 'v1', name: 'noop', hosts: () => ['penny'], run: async () => ({ exitCode: 0, stdout: '', stderr: '', durationMs: 0, timedOut: false }) };
const engine = new FishEngine({
  catalog: () => catalog,
  sources: [],
  audit: createMemoryAuditStore(),
  notifier: noop,
  executor,
  signer: new ApprovalSigner('b'.repeat(32)),
  publicUrl: 'http://127.0.0.1',
  busCapacity: 10_000,
});

const seconds = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 6);
const rssStart = process.memoryUsage().rss;
let peakRss = rssStart;
const samples = [];
const heapSamples = [];
let offered = 0;
let consumed = 0;
const lines = homelabDay({ seed: 3 });
const end = performance.now() + seconds * 1000;
let nextSample = performance.now() + 500;
while (performance.now() < end) {
  for (let batch = 0; batch < 1000; batch++) {
    let next = lines.next();
    if (next.done) next = (lines.return(), { value: homelabDay({ seed: offered }).next().value });
    const line = next.value;
    engine.bus.offer({ id: `o${offered}`, kind: 'log', source: 'bench', time: line.time, host: line.host, service: line.service, level: line.level, message: line.message, labels: {} });
    offered++;
    if (batch % 10 === 0) {
      const event = engine.bus.poll();
      if (event) {
        engine.ingest(event);
        consumed++;
      }
    }
  }
  const rss = process.memoryUsage().rss;
  peakRss = Math.max(peakRss, rss);
  if (performance.now() >= nextSample) {
    globalThis.gc?.();
    samples.push(Math.round(process.memoryUsage().rss / 1048576));
    heapSamples.push(Math.round(process.memoryUsage().heapUsed / 1048576));
    nextSample += 500;
  }
  await new Promise((resolve) => setImmediate(resolve));
}
const stats = engine.bus.stats();
process.stderr.write(
  `overload x10 for ${seconds} s: offered ${offered.toLocaleString('en')}, consumed ${consumed.toLocaleString('en')}, dropped ${stats.dropped.toLocaleString('en')} (counted), queue ${stats.depth}/${stats.capacity}; RSS start ${Math.round(rssStart / 1048576)} MB, peak ${Math.round(peakRss / 1048576)} MB, samples ${samples.join(' ')} MB\n`,
);
console.log(
  JSON.stringify({
    bench: 'overload',
    seconds,
    offered,
    consumed,
    dropped: stats.dropped,
    queueDepth: stats.depth,
    rssStartMb: Math.round(rssStart / 1048576),
    peakRssMb: Math.round(peakRss / 1048576),
    rssSamplesMb: samples,
    heapUsedSamplesMb: heapSamples,
  }),
);
