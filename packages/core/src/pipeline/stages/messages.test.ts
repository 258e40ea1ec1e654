import { describe, expect, it } from 'vitest';
import type { ExecutionStep, ProposalRecord } from '../../contracts/records.js';
import { alreadyDecided, codeBlock, describeStep, interruptedEscalation } from './messages.js';

const step = (fields: Partial<ExecutionStep>): ExecutionStep => ({
  verb: 'run',
  script: 'fix.sh',
  startedAt: 'x',
  exitCode: 0,
  signal: null,
  stdout: '',
  stderr: '',
  durationMs: 0,
  timedOut: false,
  dryRun: false,
  ...fields,
});

describe('messages', () => {
  it('fences evidence and defuses fences inside it', () => {
    expect(codeBlock([])).toBe('');
    expect(codeBlock(['a ```b``` c'])).toBe("```\na '''b''' c\n```");
  });

  it('says how a step ended', () => {
    expect(describeStep(step({ timedOut: true, durationMs: 1500.4 }))).toBe('timed out after 1500 ms');
    expect(describeStep(step({ exitCode: null, stderr: 'ssh: connect refused\nmore' }))).toBe('could not run: ssh: connect refused');
    expect(describeStep(step({ exitCode: 3 }))).toBe('exited with code 3');
  });

  it('answers an already-decided proposal with who and when', () => {
    const proposal = { status: 'approved', decidedAt: '2026-01-01T09:35:10.000Z', decidedBy: 'alice', expiresAt: 'x' } as ProposalRecord;
    expect(alreadyDecided(proposal)).toBe('already approved at 09:35 UTC by alice');
    expect(alreadyDecided({ ...proposal, status: 'expired', expiresAt: '2026-01-01T10:00:00.000Z' })).toBe('this proposal expired at 2026-01-01T10:00:00.000Z; nothing was run');
  });

  it('says whether an interruption happened now or in an earlier restart', () => {
    expect(interruptedEscalation('p', 'h', 'verifying')).toContain('fish stopped while it was verifying');
    expect(interruptedEscalation('p', 'h', 'interrupted')).toContain('fish stopped during an earlier restart');
  });
});
