import { describe, expect, it } from 'vitest';
import { createMemoryAuditStore } from '../../builtins/memory-audit-store.js';
import { makePattern } from '../../test-support/fixtures.js';
import { seedProposal } from '../../test-support/stage-context.js';
import { createAutoExecPolicy } from './auto-exec-policy.js';

async function auditWith(outcomes: Array<{ patternId: string; dryRun: boolean; host?: string; status?: 'succeeded' | 'failed' | 'escalated' }>) {
  const audit = createMemoryAuditStore();
  let n = 0;
  for (const { patternId, dryRun, host, status } of outcomes) {
    n++;
    const at = new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString();
    await seedProposal(audit, Date.parse(at), { id: `prop_${n}`, patternId, approved: true });
    await audit.insertExecution({ id: `exe_${n}`, proposalId: `prop_${n}`, patternId, targetHost: host ?? 'penny', status: 'pending', dryRun, createdAt: at, updatedAt: at, steps: [] });
    await audit.transitionExecution({ id: `exe_${n}`, from: ['pending'], to: 'running', at });
    if (status === 'escalated') {
      await audit.transitionExecution({ id: `exe_${n}`, from: ['running'], to: 'failed', at });
      await audit.transitionExecution({ id: `exe_${n}`, from: ['failed'], to: 'escalated', at });
    } else {
      await audit.transitionExecution({ id: `exe_${n}`, from: ['running'], to: status ?? 'succeeded', at });
    }
  }
  return audit;
}

describe('auto-exec policy', () => {
  const earned = makePattern({ id: 'earned', required_signals: [{ id: 'line', log: { message: 'boom', service: '^homepage$' } }], promote_to_autoexec_after: 2 });

  it('counts consecutive verified successes per (pattern, host): a failure or escalation resets, another host does not count', async () => {
    const ok = { patternId: 'earned', dryRun: false };
    const reset = await auditWith([ok, ok, { ...ok, status: 'failed' }, ok]);
    expect(await createAutoExecPolicy({ enabled: true, audit: reset }).evaluate(earned, 'penny')).toEqual({ autoExec: false });
    const escalated = await auditWith([ok, ok, { ...ok, status: 'escalated' }]);
    expect(await createAutoExecPolicy({ enabled: true, audit: escalated }).evaluate(earned, 'penny')).toEqual({ autoExec: false });
    const elsewhere = await auditWith([{ ...ok, host: 'lancelot' }, { ...ok, host: 'lancelot' }, ok]);
    expect(await createAutoExecPolicy({ enabled: true, audit: elsewhere }).evaluate(earned, 'penny')).toEqual({ autoExec: false });
    const earnedAgain = await auditWith([ok, { ...ok, status: 'failed' }, ok, ok]);
    expect(await createAutoExecPolicy({ enabled: true, audit: earnedAgain }).evaluate(earned, 'penny')).toMatchObject({ autoExec: true, reason: expect.stringContaining('consecutive on penny') });
  });

  it('never promotes a pattern whose log signal is unscoped, however many successes it has', async () => {
    const ok = { patternId: 'loose', dryRun: false };
    const audit = await auditWith([ok, ok, ok, ok]);
    const loose = makePattern({ id: 'loose', promote_to_autoexec_after: 2 });
    expect(await createAutoExecPolicy({ enabled: true, audit }).evaluate(loose, 'penny')).toEqual({ autoExec: false });
  });

  it('promotes a pattern after N real verified successes of that pattern', async () => {
    const audit = await auditWith([
      { patternId: 'earned', dryRun: false },
      { patternId: 'other', dryRun: false },
      { patternId: 'earned', dryRun: true },
    ]);
    const policy = createAutoExecPolicy({ enabled: true, audit });
    expect(await policy.evaluate(earned)).toEqual({ autoExec: false });
    const at = new Date(Date.UTC(2026, 0, 2)).toISOString();
    await seedProposal(audit, Date.parse(at), { id: 'prop_x', patternId: 'earned', approved: true });
    await audit.insertExecution({ id: 'exe_x', proposalId: 'prop_x', patternId: 'earned', targetHost: 'penny', status: 'pending', dryRun: false, createdAt: at, updatedAt: at, steps: [] });
    await audit.transitionExecution({ id: 'exe_x', from: ['pending'], to: 'running', at });
    await audit.transitionExecution({ id: 'exe_x', from: ['running'], to: 'succeeded', at });
    expect(await policy.evaluate(earned)).toMatchObject({ autoExec: true, reason: expect.stringMatching(/^2 verified successes >= 2 \(consecutive/) });
  });

  it('never promotes when auto-exec is off or the pattern does not allow it', async () => {
    const audit = await auditWith([
      { patternId: 'earned', dryRun: false },
      { patternId: 'earned', dryRun: false },
      { patternId: 'never', dryRun: false },
    ]);
    expect(await createAutoExecPolicy({ enabled: false, audit }).evaluate(earned)).toEqual({ autoExec: false });
    expect(await createAutoExecPolicy({ enabled: true, audit }).evaluate(makePattern({ id: 'never', promote_to_autoexec_after: null }))).toEqual({ autoExec: false });
  });
});
