// Throughput of @fish-sre/source-loki over the built dist, against the testkit Loki server: live
// tail lines/s, and reconnect back-fill lines/s (query_range pages). The server runs in a worker
// thread, as a real Loki runs elsewhere: its own work (LogQL filters, label categories, framing) is
// not charged to the source. Two figures each: lines/s on the wall clock, up to the line before the
// last (the last line of a stream waits for the multi-line joiner's quiet period, `multiline.wait`,
// 1 s by default: that is latency, not throughput), and the source's CPU time per line on the main
// thread (parse, labels, ids, dedup, joiner, queue). JSON on stdout, text on stderr.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';

if (!isMainThread) {
  const { startLokiServer } = await import('@fish-sre/testkit');
  const server = await startLokiServer();
  let ts = BigInt(Date.now()) * 1_000_000n;
  // Lines are made here, on the server's thread: making them is not the source's work.
  const entries = (count, app) =>
    Array.from({ length: count }, (_, index) => ({ ts: ts++, line: `level=error msg="bench line ${index}" host=penny`, labels: { app, host: 'penny', container: 'api' } }));
  parentPort.on('message', async (message) => {
    if (message.push) server.push(message.tenant, entries(message.push, message.app));
    if (message.close) await server.close();
    parentPort.postMessage({ done: message.id });
  });
  parentPort.postMessage({ url: server.url });
} else {
  const { createLokiSource } = await import('../dist/index.js');
  const LIVE = Number(process.env.BENCH_LIVE ?? 50_000);
  const BACKFILL = Number(process.env.BENCH_BACKFILL ?? 50_000);
  const worker = new Worker(new URL(import.meta.url));
  const replies = new Map();
  let nextId = 0;
  const url = await new Promise((resolve) => {
    worker.on('message', (message) => {
      if (message.url) resolve(message.url);
      if (message.done !== undefined) replies.get(message.done)?.();
    });
  });
  /** Sends a message to the server thread and waits until it was handled. */
  const ask = (message) => {
    const id = nextId++;
    return new Promise((resolve) => {
      replies.set(id, resolve);
      worker.postMessage({ ...message, id });
    });
  };
  const tenant = 'bench';

  async function measure(app, options, feed) {
    const source = createLokiSource({ url, tenant, query: `{app="${app}"}`, limit: 5000, reconnect: { initialDelay: '10ms' }, ...options });
    const controller = new AbortController();
    let count = 0;
    let started;
    let cpuStarted;
    let beforeLast;
    let resolveDone;
    const done = new Promise((resolve) => (resolveDone = resolve));
    const consuming = (async () => {
      for await (const _event of source.events(controller.signal)) {
        count++;
        if (count === feed.total - 1) beforeLast = { at: performance.now(), cpu: process.threadCpuUsage(cpuStarted) };
        if (count === feed.total) resolveDone();
      }
    })();
    // The clocks start together, when the first line is offered.
    const mark = () => {
      cpuStarted = process.threadCpuUsage();
      return performance.now();
    };
    started = await feed.run(source, mark);
    await done;
    const seconds = (beforeLast.at - started) / 1000;
    const cpuSeconds = (beforeLast.cpu.user + beforeLast.cpu.system) / 1e6;
    const memory = process.memoryUsage().rss;
    controller.abort();
    await consuming;
    await source.close();
    return {
      lines: count,
      linesPerSecond: Math.round((count - 1) / seconds),
      cpuMicrosecondsPerLine: +((cpuSeconds * 1e6) / (count - 1)).toFixed(2),
      rssMb: Math.round(memory / 1048576),
      counters: source.health().counters,
    };
  }

  const live = await measure(
    'live',
    {},
    {
      total: LIVE,
      run: async (source, mark) => {
        while (source.health().state !== 'connected') await new Promise((resolve) => setTimeout(resolve, 5));
        await new Promise((resolve) => setTimeout(resolve, 50));
        const start = mark();
        // Pushed in batches of 1,000 as fast as the server thread takes them (not waiting for each).
        const pushes = [];
        for (let pushed = 0; pushed < LIVE; pushed += 1000) pushes.push(ask({ tenant, push: Math.min(1000, LIVE - pushed), app: 'live' }));
        await Promise.all(pushes);
        return start;
      },
    },
  );
  await ask({ tenant, push: BACKFILL, app: 'backfill' });
  const backfill = await measure('backfill', { lookback: '1h' }, { total: BACKFILL, run: async (_source, mark) => mark() });
  await ask({ close: true });
  await worker.terminate();

  const result = {
    liveLinesPerSecond: live.linesPerSecond,
    liveCpuMicrosecondsPerLine: live.cpuMicrosecondsPerLine,
    liveLines: live.lines,
    liveDropped: live.counters.dropped_entries,
    liveBackpressurePauses: live.counters.backpressure_pauses,
    backfillLinesPerSecond: backfill.linesPerSecond,
    backfillCpuMicrosecondsPerLine: backfill.cpuMicrosecondsPerLine,
    backfillLines: backfill.lines,
    rssMb: Math.max(live.rssMb, backfill.rssMb),
  };
  process.stderr.write(
    `source-loki (server in a worker thread): live tail ${result.liveLinesPerSecond} lines/s, ${result.liveCpuMicrosecondsPerLine} µs of source CPU per line (${live.lines} lines, ${live.counters.dropped_entries} dropped); back-fill ${result.backfillLinesPerSecond} lines/s, ${result.backfillCpuMicrosecondsPerLine} µs per line (${backfill.lines} lines, pages of 5000); RSS ${result.rssMb} MB\n`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
