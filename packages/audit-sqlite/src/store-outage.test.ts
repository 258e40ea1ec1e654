import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { ApprovalSigner, FishEngine, PatternSchema, type Notifier, type NotifierMessage, type ObservedEvent } from '@fish-sre/core';
import { createSqliteAuditStore } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'fish-audit-outage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function event(service: string, n: number): ObservedEvent {
  return { id: `ev-${service}-${n}`, kind: 'log', source: 'test', time: Date.now(), host: 'penny', service, level: 'error', message: 'connect ECONNREFUSED 10.0.0.1:80', labels: {} };
}

describe('fish with a broken SQLite audit store', () => {
  it('says so once through the notifier (not once per incident) and proposes nothing it could not record', async () => {
    const workers: Worker[] = [];
    const audit = createSqliteAuditStore({ path: join(root, 'audit.sqlite'), synchronous: 'NORMAL', maxWorkerRestarts: 0, onWorker: (worker) => workers.push(worker) });
    await audit.init();
    const sent: Array<{ kind: 'propose' | 'notify'; message?: NotifierMessage }> = [];
    const notifier: Notifier = {
      specificationVersion: 'v1',
      name: 'recording',
      async propose() {
        sent.push({ kind: 'propose' });
        return { id: `r${sent.length}`, channel: 'recording' };
      },
      async notify(message) {
        sent.push({ kind: 'notify', message });
        return { id: `r${sent.length}`, channel: 'recording' };
      },
    };
    const pattern = PatternSchema.parse({
      id: 'web-down',
      title: 'Web down',
      target_host: 'penny',
      required_signals: [{ id: 'refused', log: { message: 'ECONNREFUSED' } }],
      fix: { script: 'fix.sh' },
      verify: { script: 'verify.sh' },
      samples: { match: ['connect ECONNREFUSED 1.2.3.4:80'] },
    });
    const engine = new FishEngine({
      catalog: () => ({ patterns: [pattern], scriptsDir: root, loadedFrom: root, loadedAt: Date.now(), digest: 'd' }),
      sources: [],
      audit,
      notifier,
      executor: { specificationVersion: 'v1', name: 'never', hosts: () => ['penny'], run: () => Promise.reject(new Error('nothing may run')) },
      signer: new ApprovalSigner('outage-test-secret-0123456789abcdef'),
      publicUrl: 'https://fish.test',
    });
    await engine.start();
    try {
      // The worker thread dies and may not be restarted: every write fails from now on.
      await workers[0]!.terminate();
      for (const [index, service] of ['web', 'api', 'db', 'cache'].entries()) await engine.ingest(event(service, index));
      await engine.idle();
      const notices = sent.filter((item) => item.kind === 'notify');
      expect(notices).toHaveLength(1);
      expect(notices[0]!.message).toMatchObject({ title: 'fish: audit store unreachable', priority: 'high' });
      expect(sent.filter((item) => item.kind === 'propose')).toHaveLength(0);
    } finally {
      await engine.stop({ graceMs: 100 }).catch(() => undefined);
      await audit.close();
    }
  });
});
