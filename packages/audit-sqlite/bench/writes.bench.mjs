// Audit write throughput and event-loop stalls of @fish-sre/audit-sqlite (built dist).
// better-sqlite3 runs in the store's worker thread, so fsyncs and WAL checkpoints do not stall
// the event loop measured here. The workload and meters: ../../audit-sql/bench/store-writes.mjs.
// stdout: one JSON line of figures; stderr: human text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idleBaseline, measureStateChanges } from '../../audit-sql/bench/store-writes.mjs';
import { createSqliteAuditStore, verifyAuditChain } from '../dist/index.js';

async function run(label, storeOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'fish-audit-bench-'));
  try {
    return await measureStateChanges(label, createSqliteAuditStore({ path: join(dir, 'audit.sqlite'), ...storeOptions }), verifyAuditChain);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
results.push(await idleBaseline(3000));
results.push(await run('synchronous=FULL (default)', {}));
results.push(await run('synchronous=NORMAL', { synchronous: 'NORMAL' }));
const goalMs = 20;
const defaultRun = results[1];
process.stderr.write(`goal: no stall above ${goalMs} ms with the default settings -> ${defaultRun.maxStallMs <= goalMs ? 'met' : 'NOT met'}\n`);
process.stdout.write(`${JSON.stringify({ benchmark: 'audit-sqlite-writes', goalMaxStallMs: goalMs, results })}\n`);
