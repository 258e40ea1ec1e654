// Throughput of @fish-sre/source-loki over the built dist, against the testkit Loki server:
// live tail lines/s, and reconnect back-fill lines/s (query_range pages). JSON on stdout, text on stderr.
import { createLokiSource } from '../dist/index.js';
import { startLokiServer } from '@fish-sre/testkit';

const LIVE = Number(process.env.BENCH_LIVE ?? 50_000);
const BACKFILL = Number(process.env.BENCH_BACKFILL ?? 50_000);
const server = await startLokiServer();
const tenant = 'bench';
let ts = BigInt(Date.now()) * 1_000_000n;
const entries = (count, app) => Array.from({ length: count }, (_, index) => ({ ts: ts++, line: `level=error msg="bench line ${index}" host=penny`, labels: { app, host: 'penny', container: 'api' } }));

async function measure(app, options, feed) {
  const source = createLokiSource({ url: server.url, tenant, query: `{app="${app}"}`, limit: 5000, reconnect: { initialDelay: '10ms' }, ...options });
  const controller = new AbortController();
  let count = 0;
  let started;
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  const consuming = (async () => {
    for await (const _event of source.events(controller.signal)) {
      if (count === 0) started ??= performance.now();
      if (++count === feed.total) resolveDone();
    }
  })();
  started = await feed.run(source);
  await done;
  const seconds = (performance.now() - started) / 1000;
  const memory = process.memoryUsage().rss;
  controller.abort();
  await consuming;
  await source.close();
  return { lines: count, seconds: +seconds.toFixed(3), linesPerSecond: Math.round(count / seconds), rssMb: Math.round(memory / 1048576), counters: source.health().counters };
}

const live = await measure(
  'live',
  {},
  {
    total: LIVE,
    run: async (source) => {
      while (source.health().state !== 'connected') await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const start = performance.now();
      for (let pushed = 0; pushed < LIVE; pushed += 1000) {
        server.push(tenant, entries(Math.min(1000, LIVE - pushed), 'live'));
        await new Promise((resolve) => setImmediate(resolve));
      }
      return start;
    },
  },
);
const backfillEntries = entries(BACKFILL, 'backfill');
server.push(tenant, backfillEntries);
const backfill = await measure('backfill', { lookback: '1h' }, { total: BACKFILL, run: async () => performance.now() });
await server.close();

const result = {
  liveLinesPerSecond: live.linesPerSecond,
  liveLines: live.lines,
  liveDropped: live.counters.dropped_entries,
  liveBackpressurePauses: live.counters.backpressure_pauses,
  backfillLinesPerSecond: backfill.linesPerSecond,
  backfillLines: backfill.lines,
  rssMb: Math.max(live.rssMb, backfill.rssMb),
};
process.stderr.write(
  `source-loki: live tail ${result.liveLinesPerSecond} lines/s (${live.lines} lines, ${live.counters.dropped_entries} dropped), back-fill ${result.backfillLinesPerSecond} lines/s (${backfill.lines} lines, pages of 5000), RSS ${result.rssMb} MB\n`,
);
process.stdout.write(`${JSON.stringify(result)}\n`);
