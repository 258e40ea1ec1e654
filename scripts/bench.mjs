// `npm run bench`: runs every benchmark (bench/*.bench.mjs and packages/*/bench/*.bench.mjs), one
// process each so their memory figures do not mix, and collects the JSON figures each prints on
// its last stdout line into test-artifacts/bench.json. Benchmarks are not tests: they assert
// nothing and their figures go into the READMEs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const files = [];
for (const folder of ['bench', ...readdirSync(join(root, 'packages')).map((name) => join('packages', name, 'bench')), ...readdirSync(join(root, 'apps')).map((name) => join('apps', name, 'bench'))]) {
  const directory = join(root, folder);
  if (!existsSync(directory)) continue;
  for (const name of readdirSync(directory).sort()) if (name.endsWith('.bench.mjs')) files.push(join(folder, name));
}
const only = process.argv[2];
const results = [];
let failed = 0;
for (const file of files.filter((name) => !only || name.includes(only))) {
  process.stderr.write(`\n=== ${file}\n`);
  const run = spawnSync(process.execPath, ['--expose-gc', join(root, file)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', timeout: 10 * 60_000 });
  const last = run.stdout.trim().split('\n').pop() ?? '';
  try {
    results.push({ file, ...JSON.parse(last) });
  } catch {
    failed++;
    process.stderr.write(`${file}: no JSON figures (exit ${run.status})\n${run.stdout}\n`);
  }
}
mkdirSync(join(root, 'test-artifacts'), { recursive: true });
writeFileSync(join(root, 'test-artifacts', 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stderr.write(`\n${results.length} benchmark(s) written to test-artifacts/bench.json${failed ? `, ${failed} failed` : ''}\n`);
process.exit(failed ? 1 : 0);
