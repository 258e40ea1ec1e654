// Audit write throughput and event-loop stalls of @fish-sre/audit-postgres (built dist) on a real
// PostgreSQL (testkit's startTestPostgres, fsync on, as a production server runs), next to
// audit-sqlite in the same run (so the ratio holds whatever else the machine does). The
// workload and meters: ../../audit-sql/bench/store-writes.mjs.
// stdout: one JSON line of figures; stderr: human text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestPostgres } from '@fish-sre/testkit';
import { createSqliteAuditStore, verifyAuditChain } from '@fish-sre/audit-sqlite';
import { idleBaseline, measureStateChanges } from '../../audit-sql/bench/store-writes.mjs';
import { createPostgresAuditStore } from '../dist/index.js';

const server = await startTestPostgres({ fsync: true });
const results = [];
try {
  results.push(await idleBaseline(3000));
  const sqliteDir = mkdtempSync(join(tmpdir(), 'fish-audit-bench-'));
  try {
    results.push(await measureStateChanges('sqlite, synchronous=FULL', createSqliteAuditStore({ path: join(sqliteDir, 'audit.sqlite') }), verifyAuditChain));
  } finally {
    rmSync(sqliteDir, { recursive: true, force: true });
  }
  results.push(await measureStateChanges('postgres, one instance', createPostgresAuditStore({ url: await server.createDatabase() }), (store) => store.verifyChain()));
} finally {
  await server.stop();
}
const [, sqlite, postgres] = results;
const goalMs = 20;
process.stderr.write(
  `postgres / sqlite state changes per second: ${(postgres.writesPerSecond / sqlite.writesPerSecond).toFixed(2)}; goal: no stall above ${goalMs} ms -> ${postgres.maxStallMs <= goalMs ? 'met' : 'NOT met'}\n`,
);
process.stdout.write(
  `${JSON.stringify({ benchmark: 'audit-postgres-writes', goalMaxStallMs: goalMs, postgresToSqlite: Number((postgres.writesPerSecond / sqlite.writesPerSecond).toFixed(3)), results })}\n`,
);
