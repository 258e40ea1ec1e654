import { describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../approval/approval-token.js';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import type { AuditStore } from '../contracts/audit-store.js';
import type { Executor } from '../contracts/executor.js';
import type { Notifier } from '../contracts/notifier.js';
import type { Source } from '../contracts/source.js';
import { FishErrorCode } from '../errors.js';
import { manage } from '../registry.js';
import { ManualClock } from '../util/clock.js';
import { FishEngine } from './engine.js';

function parts(closed: string[]) {
  const source: Source = {
    specificationVersion: 'v1',
    name: 'tail',
    async *events(signal) {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    },
    async close() {
      closed.push('source');
    },
  };
  const notifier: Notifier = {
    specificationVersion: 'v1',
    name: 'phone',
    propose: async () => ({ id: '1', channel: 'phone' }),
    notify: async () => ({ id: '2', channel: 'phone' }),
    async close() {
      closed.push('notifier');
    },
  };
  const executor: Executor = {
    specificationVersion: 'v1',
    name: 'ssh',
    hosts: () => ['penny'],
    run: async () => ({ exitCode: 0, stdout: '', stderr: '', durationMs: 1, timedOut: false }),
    async close() {
      closed.push('executor');
    },
  };
  const memory = createMemoryAuditStore();
  // The audit store is closed last: "stopped" is written before, and nothing after.
  const audit = manage<AuditStore>({
    ...memory,
    recordSystemEvent: (...args: Parameters<AuditStore['recordSystemEvent']>) => {
      closed.push(`audit:${args[0]}`);
      return memory.recordSystemEvent(...args);
    },
    async close() {
      closed.push('audit closed');
    },
  });
  return { source, notifier, executor, audit };
}

function engineWith(closed: string[], own?: boolean) {
  const { source, notifier, executor, audit } = parts(closed);
  const engine = new FishEngine({
    catalog: () => ({ patterns: [], scriptsDir: '/nonexistent', loadedFrom: '/nonexistent', loadedAt: 0, digest: 'x' }),
    sources: [source],
    audit,
    notifier,
    executor,
    signer: new ApprovalSigner('ownership-test-secret-0123456789abcdef'),
    publicUrl: 'https://fish.example.test/',
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    ...(own === undefined ? {} : { own }),
  });
  return { engine, audit };
}

describe('who closes the plugins an engine is given', () => {
  it('with own: true, stop() closes the sources, notifier, executor, and the audit store last', async () => {
    const closed: string[] = [];
    const { engine, audit } = engineWith(closed, true);
    await engine.start();
    await engine.stop({ graceMs: 100 });
    expect(closed).toEqual(['audit:started', 'audit:stopped', 'source', 'notifier', 'executor', 'audit closed']);
    expect(() => audit.listProposals()).toThrow(expect.objectContaining({ code: FishErrorCode.PLUGIN_DISPOSED }));
  });

  it('by default leaves them open for their creator to close', async () => {
    const closed: string[] = [];
    const { engine, audit } = engineWith(closed);
    await engine.start();
    await engine.stop({ graceMs: 100 });
    expect(closed).toEqual(['audit:started', 'audit:stopped']);
    expect(await audit.listProposals()).toEqual([]);
  });
});
