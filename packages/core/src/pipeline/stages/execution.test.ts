import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApprovalSigner } from '../../approval/approval-token.js';
import { createLocalExecutor } from '../../builtins/local-executor.js';
import type { ProposalRecord } from '../../contracts/records.js';
import { makePattern } from '../../test-support/fixtures.js';
import { seedProposal, testStageContext } from '../../test-support/stage-context.js';
import type { HostLock } from '../host-mutex.js';
import { HostMutex } from '../host-mutex.js';
import { ExecutionStage } from './execution.js';
import { NotificationStage } from './notifications.js';

const roots: string[] = [];
afterAll(async () => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

async function setup(patterns = [makePattern({ id: 'web-down', fix: { script: 'fix.sh' }, verify: { script: 'verify.sh' } })], lock: HostLock = new HostMutex()) {
  const root = await mkdtemp(join(tmpdir(), 'fish-execution-'));
  roots.push(root);
  const scriptsDir = join(root, 'scripts');
  const sandboxDir = join(root, 'sandbox');
  await mkdir(scriptsDir);
  await mkdir(sandboxDir);
  const scripts: Record<string, string> = {
    'fix.sh': 'echo "fix" >> runs.log\necho fixed > state',
    'verify.sh': 'echo "verify" >> runs.log\ngrep -q fixed state',
    'fail.sh': 'echo "fail" >> runs.log\nexit 3',
  };
  for (const [name, body] of Object.entries(scripts)) {
    await writeFile(join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(scriptsDir, name), 0o755);
  }
  const context = testStageContext({ executor: createLocalExecutor({ scriptsDir, sandboxDir, hosts: ['penny'] }), patterns });
  const notifications = new NotificationStage(context, { signer: new ApprovalSigner('execution-test-secret-0123456789'), publicUrl: 'https://x.test' });
  const stage = new ExecutionStage(context, notifications, { hostLock: lock, signal: () => new AbortController().signal });
  const proposal = (patternId = 'web-down', dryRun = false): Promise<ProposalRecord> =>
    seedProposal(context.audit, context.clock.now(), { id: `prop_${patternId}`, patternId, dryRun, approved: true });
  const runs = async () => (await readFile(join(sandboxDir, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  return { stage, context, proposal, runs };
}

describe('execution stage', () => {
  it('runs fix then verify once, records each step, and ends succeeded', async () => {
    const { stage, context, proposal, runs } = await setup();
    const approved = await proposal();
    await stage.execute(approved);
    await stage.execute(approved); // the same proposal again: the unique row refuses it
    await context.tasks.drain();
    expect(await runs()).toEqual(['fix', 'verify']);
    const [execution] = await context.audit.listExecutions();
    expect(execution).toMatchObject({
      status: 'succeeded',
      steps: [
        { verb: 'run', exitCode: 0 },
        { verb: 'verify', exitCode: 0 },
      ],
    });
    expect(context.checkpoints).toEqual(['execution-written', 'remote-call-started', 'remote-call-finished', 'remote-call-started', 'remote-call-finished']);
    expect(context.emitted.filter((item) => item.event === 'execution').map((item) => (item.args[0] as { status: string }).status)).toEqual(['running', 'verifying', 'succeeded']);
  });

  it('runs nothing in a dry run, yet walks the same states', async () => {
    const { stage, context, proposal, runs } = await setup();
    await stage.execute(await proposal('web-down', true));
    expect(await runs()).toEqual([]);
    expect((await context.audit.listExecutions())[0]).toMatchObject({ status: 'succeeded', dryRun: true });
  });

  it('escalates a failed fix with the pattern diagnosis', async () => {
    const { stage, context, proposal } = await setup([makePattern({ id: 'breaks', fix: { script: 'fail.sh' }, diagnosis: 'Check the disk.' })]);
    await stage.execute(await proposal('breaks'));
    await context.tasks.drain();
    expect((await context.audit.listExecutions())[0]).toMatchObject({ status: 'escalated', steps: [{ verb: 'run', exitCode: 3 }] });
    const escalation = context.notifier.sent.find((item) => item.type === 'notify');
    expect(escalation).toMatchObject({ message: { kind: 'escalation', body: 'Pattern breaks: the fix failed on penny. Check the disk.' } });
  });

  it('runs inside the injected host lock', async () => {
    const taken: string[] = [];
    const lock: HostLock = {
      async runExclusive(host, task) {
        taken.push(host);
        return task();
      },
    };
    const { stage, proposal, runs } = await setup(undefined, lock);
    await stage.execute(await proposal());
    expect(taken).toEqual(['penny']);
    expect(await runs()).toEqual(['fix', 'verify']);
  });

  it('stops when the row changed under it (compare-and-set lost) and runs no further step', async () => {
    const { stage, context, proposal, runs } = await setup();
    const original = context.audit.transitionExecution.bind(context.audit);
    // A peer's recovery marks the execution interrupted right after the fix step started.
    context.audit.transitionExecution = async (transition) => {
      if (transition.to === 'verifying') await original({ id: transition.id, from: ['running'], to: 'interrupted', at: transition.at });
      return original(transition);
    };
    await stage.execute(await proposal());
    expect(await runs()).toEqual(['fix']);
    expect((await context.audit.listExecutions())[0]?.status).toBe('interrupted');
    expect((await context.audit.history()).some((row) => JSON.stringify(row).includes('execution-ownership-lost'))).toBe(true);
  });

  it('claims a proposal once: the pending row is written by the first caller, and execute() after another claim runs nothing', async () => {
    const { stage, context, proposal, runs } = await setup();
    const approved = await proposal();
    const id = await stage.claim(approved);
    expect(id).toMatch(/^exe_[0-9a-f]{20}$/);
    expect(await stage.claim(approved)).toBeUndefined();
    await stage.execute(approved);
    expect(await runs()).toEqual([]);
    expect(await context.audit.listExecutions()).toEqual([expect.objectContaining({ id, proposalId: approved.id, status: 'pending', targetHost: 'penny', dryRun: false, steps: [] })]);
  });

  it('interrupts and escalates when the pattern left the catalog after approval', async () => {
    const { stage, context, proposal, runs } = await setup();
    context.setPatterns([]);
    await stage.execute(await proposal());
    await context.tasks.drain();
    expect(await runs()).toEqual([]);
    expect((await context.audit.listExecutions())[0]?.status).toBe('escalated');
  });
});
