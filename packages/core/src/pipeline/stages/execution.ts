import { randomUUID } from 'node:crypto';
import type { Pattern } from '../../catalog/catalog-schema.js';
import { pinChange, pinPattern } from '../../catalog/pattern-pin.js';
import type { ExecutionResult, ExecutionVerb } from '../../contracts/executor.js';
import type { ExecutionRecord, ExecutionStatus, ExecutionStep, ProposalRecord } from '../../contracts/records.js';
import { FishError, describeError } from '../../errors.js';
import { redactSecrets } from '../../util/redact.js';
import type { HostLock } from '../host-mutex.js';
import { ExecutionLeaseKeeper, type StoreCoordinationOptions } from '../store-coordination.js';
import type { StageContext } from './context.js';
import { STEP_DETAIL, dryRunOutput, escalation, fixApplied, fixChanged, fixFailed, fixVerified, patternGone, rollbackFailed, rolledBack } from './messages.js';
import type { NotificationStage } from './notifications.js';

/** A script whose file no longer has the digest the proposal showed: the executor refused it. */
class ScriptChangedOnDisk extends Error {
  constructor(readonly change: string) {
    super(change);
  }
}

const PIN_STEP = { run: 'fix', verify: 'verify', rollback: 'rollback' } as const;

export interface ExecutionOptions {
  hostLock: HostLock;
  /** Cancels running steps (after the stop grace period). */
  signal: () => AbortSignal;
  /** Several instances on one store: each execution row names this instance, whose lease is renewed while it runs. */
  ownership?: StoreCoordinationOptions;
}

/**
 * Runs an approved proposal exactly once, as a compare-and-set state machine on the execution
 * row: pending -> running -> (verifying) -> succeeded | failed -> rolled_back | escalated. The row
 * (unique per proposal) is written first; each step's start is recorded before the remote call
 * and its result after it. When a transition does not apply, the row changed under us (a peer's
 * recovery marked it interrupted): this run no longer owns it and runs nothing more.
 */
export class ExecutionStage {
  constructor(
    private readonly context: StageContext,
    private readonly notifications: NotificationStage,
    private readonly options: ExecutionOptions,
  ) {}

  /**
   * Writes the proposal's execution row, `pending` (with this instance's lease when several share
   * the store). The row is unique per proposal: whoever writes it owns the proposal's one execution.
   * @returns the row's id, or undefined when another path (a peer, an earlier decision) already wrote it
   */
  async claim(proposal: ProposalRecord): Promise<string | undefined> {
    const ownership = this.options.ownership;
    const id = `exe_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    const created = this.context.now();
    const inserted = await this.context.audit.insertExecution({
      id,
      proposalId: proposal.id,
      patternId: proposal.patternId,
      targetHost: proposal.targetHost,
      status: 'pending',
      dryRun: proposal.dryRun,
      createdAt: created,
      updatedAt: created,
      steps: [],
      ...(ownership ? { owner: ownership.owner, leaseExpiresAt: ExecutionLeaseKeeper.firstLeaseEnd(ownership) } : {}),
    });
    return inserted ? id : undefined;
  }

  async execute(proposal: ProposalRecord): Promise<void> {
    const ownership = this.options.ownership;
    const catalog = this.context.catalog();
    const pattern = catalog.patterns.find((candidate) => candidate.id === proposal.patternId);
    const executionId = await this.claim(proposal);
    if (executionId === undefined) return; // Another path already owns this proposal's execution.
    this.context.checkpoint('execution-written');
    this.context.counters.add('executions', { pattern: proposal.patternId });
    if (!pattern?.fix) {
      const gone = patternGone(proposal.patternId);
      await this.transition(executionId, ['pending'], 'interrupted', undefined, gone.detail);
      await this.escalate(proposal, executionId, gone.escalation);
      return;
    }
    // The catalog may have been reloaded since the proposal was shown: run only what was shown.
    const changed = proposal.pin ? pinChange(proposal.pin, pinPattern(pattern, catalog)) : undefined;
    if (changed !== undefined) return this.refuseChanged(proposal, executionId, changed);
    // The lease is renewed from the row's creation on, also while it waits for the host lock.
    const keeper = ownership ? new ExecutionLeaseKeeper(ownership, executionId) : undefined;
    try {
      await this.options.hostLock.runExclusive(proposal.targetHost, () =>
        this.run(proposal, pattern, executionId).catch((error: unknown) => {
          if (error instanceof ScriptChangedOnDisk) return this.refuseChanged(proposal, executionId, error.change);
          throw error;
        }),
      );
    } finally {
      keeper?.stop();
    }
  }

  /** The fix as shown is not what would run now: nothing (more) runs, recorded, and a human is told. */
  private async refuseChanged(proposal: ProposalRecord, executionId: string, change: string): Promise<void> {
    const refused = fixChanged(proposal.patternId, change);
    await this.context.audit.recordSystemEvent('fix-changed-since-shown', { proposalId: proposal.id, executionId, change }, this.context.now());
    await this.transition(executionId, ['pending', 'running', 'verifying'], 'interrupted', undefined, refused.detail);
    await this.escalate(proposal, executionId, refused.escalation);
  }

  /**
   * Ends an execution a human must look at: moves it (from interrupted or failed) to escalated
   * unless `transition` is false (the caller already did), then escalates and updates the proposal.
   */
  async escalate(proposal: ProposalRecord, executionId: string, body: string, transition = true): Promise<void> {
    if (transition) await this.transition(executionId, ['interrupted', 'failed'], 'escalated', undefined, body);
    await this.notifications.escalate(escalation(proposal, body), { proposalId: proposal.id, incidentId: proposal.incidentId });
    this.notifications.updateLater(proposal, 'escalated', body);
  }

  /** A compare-and-set on the execution row; emits the new record when it applied. */
  async transition(id: string, from: ExecutionStatus[], to: ExecutionStatus, step?: ExecutionStep, detail?: string): Promise<ExecutionRecord | undefined> {
    const record = await this.context.audit.transitionExecution({ id, from, to, at: this.context.now(), ...(step ? { appendStep: step } : {}), ...(detail ? { detail } : {}) });
    if (record) this.context.emit('execution', record);
    return record;
  }

  private async run(proposal: ProposalRecord, pattern: Pattern, executionId: string): Promise<void> {
    const fixStep = pattern.fix!;
    if (!(await this.transition(executionId, ['pending'], 'running'))) return;
    const fix = await this.step(proposal, pattern, 'run', fixStep.script, fixStep.timeout);
    const fixOk = fix.exitCode === 0 && !fix.timedOut;
    if (fixOk && pattern.verify) {
      if (!(await this.transition(executionId, ['running'], 'verifying', fix))) return this.lostOwnership(executionId);
      const verify = await this.step(proposal, pattern, 'verify', pattern.verify.script, pattern.verify.timeout);
      if (verify.exitCode === 0 && !verify.timedOut) {
        const done = await this.transition(executionId, ['verifying'], 'succeeded', verify, STEP_DETAIL.verified);
        if (done) this.notifications.updateLater(proposal, 'succeeded', fixVerified(pattern, proposal));
        return;
      }
      if (!(await this.transition(executionId, ['verifying'], 'failed', verify, STEP_DETAIL.verifyFailed(verify)))) return this.lostOwnership(executionId);
    } else if (fixOk) {
      const done = await this.transition(executionId, ['running'], 'succeeded', fix, STEP_DETAIL.appliedNoVerify);
      if (done) this.notifications.updateLater(proposal, 'succeeded', fixApplied(pattern, proposal));
      return;
    } else if (!(await this.transition(executionId, ['running'], 'failed', fix, STEP_DETAIL.fixFailed(fix)))) {
      return this.lostOwnership(executionId);
    }
    if (pattern.on_failure === 'rollback' && pattern.rollback) {
      const rollback = await this.step(proposal, pattern, 'rollback', pattern.rollback.script, pattern.rollback.timeout);
      if (rollback.exitCode === 0 && !rollback.timedOut) {
        await this.transition(executionId, ['failed'], 'rolled_back', rollback, STEP_DETAIL.rolledBack);
        this.notifications.updateLater(proposal, 'rolled_back', rolledBack(pattern, proposal));
        return;
      }
      await this.transition(executionId, ['failed'], 'escalated', rollback, STEP_DETAIL.rollbackFailed(rollback));
      return this.escalate(proposal, executionId, rollbackFailed(pattern, proposal), false);
    }
    await this.transition(executionId, ['failed'], 'escalated', undefined, STEP_DETAIL.escalated);
    await this.escalate(proposal, executionId, fixFailed(pattern, proposal), false);
  }

  private async lostOwnership(executionId: string): Promise<void> {
    const current = await this.context.audit.getExecution(executionId);
    this.context.logger.warn(`execution ${executionId} changed to "${current?.status ?? 'missing'}" while it ran here; no further step is run`);
    await this.context.audit.recordSystemEvent('execution-ownership-lost', { executionId, status: current?.status ?? null }, this.context.now());
  }

  private async step(proposal: ProposalRecord, pattern: Pattern, verb: ExecutionVerb, script: string, timeoutMs: number): Promise<ExecutionStep> {
    const startedAt = this.context.now();
    if (proposal.dryRun) {
      return { verb, script, startedAt, exitCode: 0, signal: null, stdout: dryRunOutput(verb, pattern.id, script, proposal.targetHost), stderr: '', durationMs: 0, timedOut: false, dryRun: true };
    }
    let result: ExecutionResult;
    try {
      // The script's digest as shown: an executor running a file it can read checks it right before starting.
      const expectedSha256 = proposal.pin?.scripts.find((pinned) => pinned.step === PIN_STEP[verb] && pinned.script === script)?.sha256;
      const running = this.context.executor.run({
        host: proposal.targetHost,
        verb,
        patternId: pattern.id,
        script,
        timeoutMs,
        signal: this.options.signal(),
        ...(expectedSha256 ? { expectedSha256 } : {}),
      });
      this.context.checkpoint('remote-call-started');
      result = await running;
      this.context.checkpoint('remote-call-finished');
    } catch (error) {
      const changed = FishError.isInstance(error) ? (error.details as { scriptChanged?: { expected: string; actual: string } } | undefined)?.scriptChanged : undefined;
      if (changed !== undefined) throw new ScriptChangedOnDisk(`${PIN_STEP[verb]} script ${script} changed on disk (sha256 ${changed.expected.slice(0, 12)} -> ${changed.actual.slice(0, 12)})`);
      this.context.counters.observe('executionStep', 0, { verb, pattern: pattern.id, outcome: 'error' });
      return { verb, script, startedAt, exitCode: null, signal: null, stdout: '', stderr: redactSecrets(describeError(error)), durationMs: 0, timedOut: false, dryRun: false };
    }
    const outcome = result.timedOut ? 'timeout' : result.exitCode === 0 ? 'ok' : 'failed';
    this.context.counters.observe('executionStep', result.durationMs, { verb, pattern: pattern.id, outcome });
    return {
      verb,
      script,
      startedAt,
      exitCode: result.exitCode,
      signal: result.signal ?? null,
      stdout: redactSecrets(result.stdout),
      stderr: redactSecrets(result.stderr),
      durationMs: result.durationMs,
      timedOut: result.timedOut,
      dryRun: false,
    };
  }
}
