/**
 * The approval endpoint listens before the engine has finished recovering from a crash. A tap
 * that lands in that window must not start an execution that recovery then takes for one the
 * crash interrupted (it would be marked interrupted and escalated while the fix is running).
 * In-process and deterministic: the audit store and the executor are held at the exact points.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FishEngine, createLocalExecutor, type AuditStore, type Executor } from '@fish-sre/core';
import { createFixture } from './helpers.js';

function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('recovery after a restart', () => {
  it('a decision that arrives while recovery runs waits for it, and its execution is not taken for an interrupted one', async () => {
    const fixture = await createFixture();
    await fixture.engine.ingest(fixture.event(1));
    const approveUrl = fixture.notifier.proposals[0]!.actions.approveUrl;
    const proposalId = fixture.notifier.proposals[0]!.notice.proposalId;

    // The restarted process: same audit data; recovery's scan of unfinished executions is held
    // until `scan` opens, the fix until `fix` opens.
    const scanReached = latch();
    const scan = latch();
    const audit = new Proxy(fixture.audit, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'listExecutions' || typeof value !== 'function') return value;
        return async (...args: Parameters<AuditStore['listExecutions']>) => {
          if (args[0]?.status !== undefined && [args[0].status].flat().includes('running')) {
            scanReached.open();
            await scan.opened;
          }
          return (value as AuditStore['listExecutions']).apply(target, args);
        };
      },
    }) as AuditStore;
    const fix = latch();
    const local = createLocalExecutor({ scriptsDir: fixture.catalog.scriptsDir, sandboxDir: fixture.sandboxDir, hosts: ['penny'] });
    const executor: Executor = { ...local, name: 'held', hosts: () => ['penny'], run: async (request) => { await fix.opened; return local.run(request); } };
    const restarted = new FishEngine({ catalog: () => fixture.catalog, sources: [], audit, notifier: fixture.notifier, executor, signer: fixture.signer, publicUrl: 'https://fish.example.test', clock: fixture.clock });

    const started = restarted.start();
    await scanReached.opened;
    const decided = restarted.decide(approveUrl.split('/').pop()!, 'approve', 'ntfy-action');
    // Give the decision every chance to run ahead of recovery.
    for (let tick = 0; tick < 20; tick++) await new Promise((resolve) => setImmediate(resolve));
    scan.open();
    await started;
    fix.open();
    expect(await decided).toMatchObject({ ok: true, status: 'approved' });
    await restarted.idle();

    const execution = await fixture.audit.getExecutionByProposal(proposalId);
    expect(execution?.status).toBe('succeeded');
    // After its creation row: never interrupted, never escalated.
    expect((await fixture.audit.history({ entityId: execution!.id })).map((entry) => entry.action).slice(1)).toEqual(['running', 'verifying', 'succeeded']);
    expect((await readFile(join(fixture.sandboxDir, 'runs.log'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(1);
    await restarted.stop();
  });
});
