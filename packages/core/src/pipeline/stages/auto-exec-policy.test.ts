import { describe, expect, it } from 'vitest';
import { createMemoryAuditStore } from '../../builtins/memory-audit-store.js';
import { makePattern } from '../../test-support/fixtures.js';
import { seedProposal } from '../../test-support/stage-context.js';
import { createAutoExecPolicy } from './auto-exec-policy.js';

async function auditWith(successes: Array<{ patternId: string; dryRun: boolean }>) {
  const audit = createMemoryAuditStore();
  let n = 0;
  for (const { patternId, dryRun } of successes) {
    n++;
    const at = new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString();
    await seedProposal(audit, Date.parse(at), { id: `prop_${n}`, patternId, approved: true });
    await audit.insertExecution({ id: `exe_${n}`, proposalId: `prop_${n}`, patternId, targetHost: 'penny', status: 'pending', dryRun, createdAt: at, updatedAt: at, steps: [] });
    await audit.transitionExecution({ id: `exe_${n}`, from: ['pending'], to: 'running', at });
    await audit.transitionExecution({ id: `exe_${n}`, from: ['running'], to: 'succeeded', at });
  }
  return audit;
}

describe('auto-exec policy', () => {
  const earned = makePattern({ id: 'earned', promote_to_autoexec_after: 2 });

  it('promotes a pattern after N real verified successes of that pattern', async () => {
    const audit = await auditWith([{ patternId: 'earned', dryRun: false }, { patternId: 'other', dryRun: false }, { patternId: 'earned', dryRun: true }]);
    const policy = createAutoExecPolicy({ enabled: true, audit });
    expect(await policy.evaluate(earned)).toEqual({ autoExec: false });
    const at = new Date(Date.UTC(2026, 0, 2)).toISOString();
    await seedProposal(audit, Date.parse(at), { id: 'prop_x', patternId: 'earned', approved: true });
    await audit.insertExecution({ id: 'exe_x', proposalId: 'prop_x', patternId: 'earned', targetHost: 'penny', status: 'pending', dryRun: false, createdAt: at, updatedAt: at, steps: [] });
    await audit.transitionExecution({ id: 'exe_x', from: ['pending'], to: 'running', at });
    await audit.transitionExecution({ id: 'exe_x', from: ['running'], to: 'succeeded', at });
    expect(await policy.evaluate(earned)).toEqual({ autoExec: true, reason: '2 verified successes >= 2' });
  });

  it('never promotes when auto-exec is off or the pattern does not allow it', async () => {
    const audit = await auditWith([{ patternId: 'earned', dryRun: false }, { patternId: 'earned', dryRun: false }, { patternId: 'never', dryRun: false }]);
    expect(await createAutoExecPolicy({ enabled: false, audit }).evaluate(earned)).toEqual({ autoExec: false });
    expect(await createAutoExecPolicy({ enabled: true, audit }).evaluate(makePattern({ id: 'never', promote_to_autoexec_after: null }))).toEqual({ autoExec: false });
  });
});
