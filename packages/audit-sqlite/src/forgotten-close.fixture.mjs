// Creates a SQLite audit store and an engine on it, uses them, and never calls close(): the
// process must end by itself once the work is done. Run by forgotten-close.test.ts (not part of the build: tsup bundles src/index.ts).
import { ApprovalSigner, FishEngine, createLocalExecutor } from '@fish-sre/core';
import { createSqliteAuditStore } from '@fish-sre/audit-sqlite';

const [path, folder, mode] = process.argv.slice(2);
const store = createSqliteAuditStore({ path });
await store.init();
await store.recordSystemEvent('script', { mode }, new Date().toISOString());
if (mode === 'engine') {
  const notifier = { specificationVersion: 'v1', name: 'quiet', propose: async () => ({ id: '1', channel: 'quiet' }), notify: async () => ({ id: '2', channel: 'quiet' }) };
  const engine = new FishEngine({
    catalog: () => ({ patterns: [], scriptsDir: folder, loadedFrom: folder, loadedAt: Date.now(), digest: 'x' }),
    sources: [],
    audit: store,
    notifier,
    executor: createLocalExecutor({ scriptsDir: folder, sandboxDir: folder }),
    signer: new ApprovalSigner('forgotten-close-secret-0123456789abcdef'),
    publicUrl: 'https://fish.example.test/',
  });
  await engine.start();
  await engine.stop({ graceMs: 100 });
}
process.stdout.write(`done ${mode}\n`);
