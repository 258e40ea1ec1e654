// The detection latency the continuation joiner adds to the last line of a burst: a following
// file source with its defaults (poll every 500 ms; a message is complete after 1 s of quiet on its
// stream), a line appended at a random moment, the time until the source hands it on; with the
// joiner on and off. Prints one JSON line of figures on stdout, human text on stderr.
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileSource } from '@fish-sre/core';

const SAMPLES = Number(process.env.BENCH_JOINER_SAMPLES ?? 8);
const say = (text) => process.stderr.write(`${text}\n`);
const directory = await mkdtemp(join(tmpdir(), 'fish-joiner-bench-'));

async function latencies(multiline) {
  const path = join(directory, `${multiline ? 'joined' : 'plain'}.log`);
  await writeFile(path, '');
  const controller = new AbortController();
  const iterator = createFileSource({ path, format: 'text', follow: true, ...(multiline ? {} : { multiline: false }) })
    .events(controller.signal)
    [Symbol.asyncIterator]();
  const figures = [];
  for (let index = 0; index < SAMPLES; index++) {
    // The source is already waiting (polling) when the line comes, at a random phase of its timer.
    const next = iterator.next();
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 500));
    const written = performance.now();
    await appendFile(path, `level=error msg="last line of a burst ${index}"\n`);
    await next;
    figures.push(performance.now() - written);
  }
  controller.abort();
  await iterator.next();
  figures.sort((a, b) => a - b);
  return { p50: figures[Math.floor(figures.length / 2)], max: figures[figures.length - 1] };
}

const joined = await latencies(true);
const plain = await latencies(false);
await rm(directory, { recursive: true, force: true });
say(
  `last line of a burst, file source defaults: joiner on p50 ${joined.p50.toFixed(0)} ms (max ${joined.max.toFixed(0)}), off p50 ${plain.p50.toFixed(0)} ms (max ${plain.max.toFixed(0)}); the joiner adds ${(joined.p50 - plain.p50).toFixed(0)} ms at p50`,
);
console.log(
  JSON.stringify({
    bench: 'joiner-latency',
    samples: SAMPLES,
    joinedP50Ms: +joined.p50.toFixed(0),
    joinedMaxMs: +joined.max.toFixed(0),
    plainP50Ms: +plain.p50.toFixed(0),
    plainMaxMs: +plain.max.toFixed(0),
    addedP50Ms: +(joined.p50 - plain.p50).toFixed(0),
  }),
);
