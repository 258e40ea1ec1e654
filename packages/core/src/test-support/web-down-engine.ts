import { ApprovalSigner } from '../approval/approval-token.js';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import type { CatalogSnapshot } from '../catalog/catalog-schema.js';
import { FishEngine, type FishEngineOptions } from '../pipeline/engine.js';
import { ManualClock } from '../util/clock.js';
import { makePattern } from './fixtures.js';
import { recordingNotifier } from './stage-context.js';

/**
 * An engine for tests of its seams: one pattern (`web-down`, a line saying "web down"), a memory
 * store, a recording notifier, a manual clock at 2026-01-01 09:30 UTC and an executor that must
 * not be called.
 */
export function webDownEngine(overrides: Partial<FishEngineOptions> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 9, 30));
  const audit = createMemoryAuditStore();
  const notifier = recordingNotifier();
  const catalog: CatalogSnapshot = {
    patterns: [makePattern({ id: 'web-down', required_signals: [{ id: 'line', log: { message: 'web down' } }], samples: { match: ['web down'] } })],
    scriptsDir: '/x',
    loadedFrom: '/x',
    loadedAt: 0,
    digest: 'd',
  };
  const fish = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit,
    notifier,
    executor: {
      specificationVersion: 'v1',
      name: 'none',
      hosts: () => ['penny'],
      async run() {
        throw new Error('not in this test');
      },
    },
    signer: new ApprovalSigner('engine-test-secret-0123456789abcdefg'),
    publicUrl: 'https://x.test',
    clock,
    ...overrides,
  });
  return { fish, audit, notifier, clock };
}
