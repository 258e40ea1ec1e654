import {
  FishError,
  FishErrorCode,
  errorMessage,
  isLegalExecutionTransition,
  redactSecrets,
  truncateOutput,
  type AuditStore,
  type ExecutionRecord,
  type ExecutionStatus,
  type ExecutionStep,
  type ExecutionTransition,
} from '@fish-sre/core';
import { Rollback, appendAudit, type StoreContext } from './append-audit.js';
import { LEASED_STATUSES, cleanStep, statuses, toExecution, toNumber } from './rows.js';

type ExecutionMethods = Pick<AuditStore, 'insertExecution' | 'getExecution' | 'getExecutionByProposal' | 'listExecutions' | 'transitionExecution'> & Required<Pick<AuditStore, 'renewExecutionLease'>>;

/** Executions: one per proposal, compare-and-set transitions, and their owner's lease. */
export function executionMethods(context: StoreContext): ExecutionMethods {
  const { write, read } = context;
  return {
    insertExecution: (execution) =>
      write(`cannot insert execution ${execution.id}`, async (connection) => {
        const existing = await connection.selectFrom('executions').select('id').where('proposal_id', '=', execution.proposalId).executeTakeFirst();
        if (existing !== undefined) return new Rollback(false);
        try {
          await connection
            .insertInto('executions')
            .values({
              id: execution.id,
              proposal_id: execution.proposalId,
              pattern_id: execution.patternId,
              target_host: execution.targetHost,
              status: execution.status,
              dry_run: execution.dryRun ? 1 : 0,
              created_at: execution.createdAt,
              updated_at: execution.updatedAt,
              steps_json: JSON.stringify(execution.steps.map(cleanStep)),
              detail: execution.detail === undefined ? null : truncateOutput(redactSecrets(execution.detail)),
              owner: execution.owner ?? null,
              lease_expires_ms: execution.leaseExpiresAt === undefined ? null : Date.parse(execution.leaseExpiresAt),
            })
            .execute();
        } catch (error) {
          // The UNIQUE constraint is the last word, also for writers in other processes.
          if (context.isUniqueViolation(error) && /proposal_id/.test((error as Error).message)) return new Rollback(false);
          throw error;
        }
        const data: Record<string, unknown> = {
          proposalId: execution.proposalId,
          patternId: execution.patternId,
          targetHost: execution.targetHost,
          status: execution.status,
          dryRun: execution.dryRun,
        };
        if (execution.owner !== undefined) data.owner = execution.owner;
        // What `audit verify` compares the row with (both are empty when fish creates an execution).
        if (execution.detail !== undefined) data.detail = truncateOutput(redactSecrets(execution.detail));
        if (execution.steps.length > 0) data.steps = execution.steps.map(({ verb, script, exitCode, durationMs, timedOut, dryRun }) => ({ verb, script, exitCode, durationMs, timedOut, dryRun }));
        await appendAudit(connection, { at: execution.createdAt, entity: 'execution', entityId: execution.id, action: 'created', data });
        return true;
      }),

    getExecution: (id) =>
      read(`cannot read execution ${id}`, async (connection) => {
        const row = await connection.selectFrom('executions').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : toExecution(row);
      }),

    getExecutionByProposal: (proposalId) =>
      read(`cannot read the execution of proposal ${proposalId}`, async (connection) => {
        const row = await connection.selectFrom('executions').selectAll().where('proposal_id', '=', proposalId).executeTakeFirst();
        return row === undefined ? undefined : toExecution(row);
      }),

    listExecutions: (filter = {}) =>
      read('cannot list executions', async (connection) => {
        let query = connection.selectFrom('executions').selectAll();
        const wanted = statuses(filter.status);
        if (wanted !== undefined) query = query.where('status', 'in', [...wanted]);
        const rows = await query
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .limit(filter.limit ?? 50)
          .execute();
        return rows.map(toExecution);
      }),

    async transitionExecution(transition: ExecutionTransition) {
      const legalFrom = transition.from.filter((from) => isLegalExecutionTransition(from, transition.to));
      if (legalFrom.length === 0) {
        throw new FishError({
          code: FishErrorCode.STATE_TRANSITION_ILLEGAL,
          message: errorMessage(context.scope, `execution ${transition.id}: no legal transition from [${transition.from.join(', ')}] to ${transition.to}`),
          details: { executionId: transition.id, from: [...transition.from], to: transition.to },
        });
      }
      return write(`cannot move execution ${transition.id} to ${transition.to}`, async (connection) => {
        const current = await connection.selectFrom('executions').selectAll().where('id', '=', transition.id).executeTakeFirst();
        if (current === undefined || !legalFrom.includes(current.status as ExecutionStatus)) return new Rollback<ExecutionRecord | undefined>(undefined);
        const lease = toNumber(current.lease_expires_ms);
        // A live peer's execution is not taken over: its owner renews the lease while it runs.
        if (transition.onlyIfLeaseExpired && lease !== undefined && lease > Date.parse(transition.at)) return new Rollback<ExecutionRecord | undefined>(undefined);
        const steps = JSON.parse(current.steps_json) as ExecutionStep[];
        if (transition.appendStep !== undefined) steps.push(cleanStep(transition.appendStep));
        const detail = transition.detail === undefined ? current.detail : truncateOutput(redactSecrets(transition.detail));
        const result = await connection
          .updateTable('executions')
          .set({ status: transition.to, updated_at: transition.at, steps_json: JSON.stringify(steps), detail })
          .where('id', '=', transition.id)
          .where('status', '=', current.status)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return new Rollback<ExecutionRecord | undefined>(undefined);
        const data: Record<string, unknown> = { from: current.status, to: transition.to };
        if (transition.appendStep !== undefined) {
          data.step = {
            verb: transition.appendStep.verb,
            script: transition.appendStep.script,
            exitCode: transition.appendStep.exitCode,
            durationMs: transition.appendStep.durationMs,
            timedOut: transition.appendStep.timedOut,
            dryRun: transition.appendStep.dryRun,
          };
        }
        if (transition.detail !== undefined) data.detail = detail;
        if (transition.onlyIfLeaseExpired) data.takenOverFrom = current.owner;
        await appendAudit(connection, { at: transition.at, entity: 'execution', entityId: transition.id, action: transition.to, data });
        return toExecution({ ...current, status: transition.to, updated_at: transition.at, steps_json: JSON.stringify(steps), detail });
      });
    },

    renewExecutionLease: (renewal) =>
      write(`cannot renew the lease of execution ${renewal.id}`, async (connection) => {
        // Not an audited state change: the lease only says the owner is alive.
        const result = await connection
          .updateTable('executions')
          .set({ lease_expires_ms: Date.parse(renewal.leaseExpiresAt) })
          .where('id', '=', renewal.id)
          .where('owner', '=', renewal.owner)
          .where('status', 'in', [...LEASED_STATUSES])
          .executeTakeFirst();
        return Number(result.numUpdatedRows) === 1;
      }),
  };
}
