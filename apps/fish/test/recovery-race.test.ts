/**
 * Crash recovery, in-process and deterministic where the real-process harness (crash.test.ts)
 * cannot aim: the audit store and the executor are held or failed at exact points.
 *
 * 1. The approval endpoint listens before the engine has finished recovering. A tap that lands in
 *    that window must not start an execution that recovery then takes for one the crash
 *    interrupted (it would be marked interrupted and escalated while the fix is running).
 * 2. A crash in the middle of recovery, after an execution was marked interrupted but before it
 *    was escalated, must not lose the escalation.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FishEngine, createLocalExecutor, type AuditStore, type ExecutionTransition, type Executor } from '@fish-sre/core';
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
    const executor: Executor = {
      ...local,
      name: 'held',
      hosts: () => ['penny'],
      run: async (request) => {
        await fix.opened;
        return local.run(request);
      },
    };
    const restarted = new FishEngine({
      catalog: () => fixture.catalog,
      sources: [],
      audit,
      notifier: fixture.notifier,
      executor,
      signer: fixture.signer,
      publicUrl: 'https://fish.example.test',
      clock: fixture.clock,
    });

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

  it('an execution left interrupted by a crash during recovery is escalated by the next start, never re-run', async () => {
    const fixture = await createFixture();
    await fixture.engine.ingest(fixture.event(1));
    const { actions, notice } = fixture.notifier.proposals[0]!;
    // First life: approved, the fix starts and never returns (the process dies in it).
    const hang = createLocalExecutor({ scriptsDir: fixture.catalog.scriptsDir, sandboxDir: fixture.sandboxDir, hosts: ['penny'] });
    const first = new FishEngine({
      catalog: () => fixture.catalog,
      sources: [],
      audit: fixture.audit,
      notifier: fixture.notifier,
      executor: { ...hang, hosts: () => ['penny'], run: () => new Promise(() => undefined) },
      signer: fixture.signer,
      publicUrl: 'https://fish.example.test',
      clock: fixture.clock,
    });
    expect(await first.decide(actions.approveUrl.split('/').pop()!, 'approve', 'ntfy-action')).toMatchObject({ ok: true });
    for (let tick = 0; tick < 20; tick++) await new Promise((resolve) => setImmediate(resolve));
    const execution = (await fixture.audit.getExecutionByProposal(notice.proposalId))!;
    expect(execution.status).toBe('running');

    // Second life dies in recovery: the interrupted row is written, the escalation is not.
    const dying = new Proxy(fixture.audit, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'transitionExecution' || typeof value !== 'function') return value;
        return async (transition: ExecutionTransition) => {
          if (transition.to === 'escalated') throw new Error('SIGKILL');
          return (value as AuditStore['transitionExecution']).call(target, transition);
        };
      },
    }) as AuditStore;
    const local = createLocalExecutor({ scriptsDir: fixture.catalog.scriptsDir, sandboxDir: fixture.sandboxDir, hosts: ['penny'] });
    const second = new FishEngine({
      catalog: () => fixture.catalog,
      sources: [],
      audit: dying,
      notifier: fixture.notifier,
      executor: local,
      signer: fixture.signer,
      publicUrl: 'https://fish.example.test',
      clock: fixture.clock,
    });
    await expect(second.start()).rejects.toThrow('SIGKILL');
    expect((await fixture.audit.getExecution(execution.id))!.status).toBe('interrupted');
    const escalationsBefore = fixture.notifier.messages.filter((message) => message.kind === 'escalation').length;

    // Third life: escalates it, and does not run it.
    const third = new FishEngine({
      catalog: () => fixture.catalog,
      sources: [],
      audit: fixture.audit,
      notifier: fixture.notifier,
      executor: local,
      signer: fixture.signer,
      publicUrl: 'https://fish.example.test',
      clock: fixture.clock,
    });
    await third.start();
    await third.idle();
    expect((await fixture.audit.getExecution(execution.id))!.status).toBe('escalated');
    expect(fixture.notifier.messages.filter((message) => message.kind === 'escalation').length).toBe(escalationsBefore + 1);
    expect(await readFile(join(fixture.sandboxDir, 'runs.log'), 'utf8').catch(() => '')).toBe('');
    await third.stop();
  });
});
