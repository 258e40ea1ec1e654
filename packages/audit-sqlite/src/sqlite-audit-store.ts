import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { z } from 'zod';
import {
  FishError,
  FishErrorCode,
  errorMessage,
  isLegalExecutionTransition,
  isLegalProposalTransition,
  redactSecrets,
  truncateOutput,
  systemClock,
  type AuditEntry,
  type Clock,
  type AuditStore,
  type BudgetReservation,
  type BudgetSettlement,
  type ExecutionRecord,
  type ExecutionStatus,
  type ExecutionStep,
  type ExecutionTransition,
  type IncidentRecord,
  type ListFilter,
  type LlmUsageRecord,
  type NotificationRecord,
  type ProposalRecord,
  type ProposalStatus,
  type ProposalTransition,
  parseOptions,
} from '@fish-sre/core';
import { GENESIS_HASH, canonicalJson, chainHash, verifyRows, type AuditChainReport, type StoredChainRow } from './audit-chain.js';
import { migrationProvider } from './migrations.js';
import type { AuditDatabase } from './schema.js';
import { SQLITE_BEGIN, isUniqueViolation, openSqlite } from './sqlite-setup.js';
import { WorkerSqliteDialect } from './worker-dialect.js';

/** Options of the SQLite audit store, as written in a config file. */
export const SqliteAuditStoreOptionsSchema = z.strictObject({
  /**
   * The database file (created when missing). `:memory:` works for throwaway use. In a config file
   * a relative path is taken inside the plugin's data folder. @default 'audit.sqlite'
   */
  path: z.string().min(1).default('audit.sqlite'),
  /** How long a writer waits for another process's lock. @default 5000 */
  busyTimeoutMs: z.number().int().nonnegative().optional(),
  /** `FULL` fsyncs each commit, so an approval recorded before a remote call survives a power cut. @default 'FULL' */
  synchronous: z.enum(['FULL', 'NORMAL']).optional(),
});

/** Options of `createSqliteAuditStore`: the config plus the injectable clock. */
export type SqliteAuditStoreOptions = z.input<typeof SqliteAuditStoreOptionsSchema> & {
  /** Time for the few rows whose call carries no timestamp (`setProposalNotification`). @default systemClock */
  clock?: Clock;
};

/** The AuditStore plus what only this implementation offers. */
export interface SqliteAuditStore extends AuditStore {
  readonly path: string;
  /** Walks the hash chain of `audit_log`; see {@link verifyAuditChain}. */
  verifyChain(): Promise<AuditChainReport>;
}

const MICRO = 1_000_000;
const SCOPE = 'audit-sqlite';
type Connection = Kysely<AuditDatabase>;
type AuditInput = { at: string; entity: AuditEntry['entity']; entityId: string; action: string; data: Record<string, unknown> };

function auditFailed(what: string, error: unknown): FishError {
  if (FishError.isInstance(error)) return error;
  return new FishError({
    code: FishErrorCode.AUDIT_FAILED,
    message: errorMessage(SCOPE, `${what}: ${redactSecrets((error as Error)?.message ?? String(error))}`),
    cause: error,
    isRetryable: (error as { code?: string } | null)?.code === 'SQLITE_BUSY',
  });
}

function statuses<Status extends string>(status: Status | readonly Status[] | undefined): readonly Status[] | undefined {
  if (status === undefined) return undefined;
  return typeof status === 'string' ? [status as Status] : (status as readonly Status[]);
}

function cleanStep(step: ExecutionStep): ExecutionStep {
  return { ...step, stdout: truncateOutput(redactSecrets(step.stdout)), stderr: truncateOutput(redactSecrets(step.stderr)) };
}

function toIncident(row: AuditDatabase['incidents']): IncidentRecord {
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    host: row.host,
    service: row.service,
    patternId: row.pattern_id,
    candidates: JSON.parse(row.candidates_json) as string[],
    confidence: row.confidence,
    method: row.method as IncidentRecord['method'],
    reason: row.reason,
    evidence: JSON.parse(row.evidence_json) as string[],
    eventCount: row.event_count,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    createdAt: row.created_at,
  };
}

function toProposal(row: AuditDatabase['proposals']): ProposalRecord {
  const proposal: ProposalRecord = {
    id: row.id,
    incidentId: row.incident_id,
    patternId: row.pattern_id,
    targetHost: row.target_host,
    service: row.service,
    confidence: row.confidence,
    status: row.status as ProposalStatus,
    dryRun: row.dry_run === 1,
    autoExec: row.auto_exec === 1,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
  if (row.decided_at !== null) proposal.decidedAt = row.decided_at;
  if (row.decided_by !== null) proposal.decidedBy = row.decided_by;
  if (row.notification_id !== null) proposal.notificationId = row.notification_id;
  return proposal;
}

function toExecution(row: AuditDatabase['executions']): ExecutionRecord {
  const execution: ExecutionRecord = {
    id: row.id,
    proposalId: row.proposal_id,
    patternId: row.pattern_id,
    targetHost: row.target_host,
    status: row.status as ExecutionStatus,
    dryRun: row.dry_run === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    steps: JSON.parse(row.steps_json) as ExecutionStep[],
  };
  if (row.detail !== null) execution.detail = row.detail;
  return execution;
}

function toNotification(row: AuditDatabase['notifications']): NotificationRecord {
  const notification: NotificationRecord = {
    id: row.id,
    kind: row.kind,
    channel: row.channel,
    title: row.title,
    ok: row.ok === 1,
    sentAt: row.sent_at,
  };
  if (row.proposal_id !== null) notification.proposalId = row.proposal_id;
  if (row.incident_id !== null) notification.incidentId = row.incident_id;
  if (row.receipt_id !== null) notification.receiptId = row.receipt_id;
  if (row.error !== null) notification.error = row.error;
  return notification;
}

function toUsage(row: AuditDatabase['llm_usage']): LlmUsageRecord {
  const usage: LlmUsageRecord = {
    id: row.id,
    month: row.month,
    purpose: row.purpose,
    provider: row.provider,
    model: row.model,
    reservedEur: Number(row.reserved_micro_eur) / MICRO,
    createdAt: row.created_at,
  };
  if (row.actual_micro_eur !== null) usage.actualEur = Number(row.actual_micro_eur) / MICRO;
  if (row.input_tokens !== null) usage.inputTokens = row.input_tokens;
  if (row.output_tokens !== null) usage.outputTokens = row.output_tokens;
  if (row.settled_at !== null) usage.settledAt = row.settled_at;
  return usage;
}

function toEntry(row: AuditDatabase['audit_log']): AuditEntry {
  return {
    seq: Number(row.seq),
    at: row.at,
    entity: row.entity as AuditEntry['entity'],
    entityId: row.entity_id,
    action: row.action,
    data: JSON.parse(row.data_json) as Record<string, unknown>,
  };
}

/**
 * Appends one hash-chained row to `audit_log`, inside the caller's transaction. The head row
 * gives the next seq without scanning, and makes rows cut off the end detectable.
 */
async function appendAudit(connection: Connection, input: AuditInput): Promise<void> {
  const head = await connection.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
  const seq = head === undefined ? 1 : Number(head.seq) + 1;
  const prevHash = head?.hash ?? GENESIS_HASH;
  const dataJson = canonicalJson(input.data);
  const hash = chainHash(prevHash, { seq, at: input.at, entity: input.entity, entityId: input.entityId, action: input.action, dataJson });
  await connection
    .insertInto('audit_log')
    .values({ seq, at: input.at, entity: input.entity, entity_id: input.entityId, action: input.action, data_json: dataJson, prev_hash: prevHash, hash })
    .execute();
  if (head === undefined) await connection.insertInto('audit_head').values({ id: 1, seq, hash }).execute();
  else await connection.updateTable('audit_head').set({ seq, hash }).where('id', '=', 1).execute();
}

class Rollback<T> {
  constructor(readonly value: T) {}
}

export function createSqliteAuditStore(input: SqliteAuditStoreOptions): SqliteAuditStore {
  const { clock, ...config } = input;
  const options = { ...parseOptions(SqliteAuditStoreOptionsSchema, config, SCOPE), clock };
  let db: Kysely<AuditDatabase> | undefined;
  let initialising: Promise<void> | undefined;
  let closed = false;

  async function init(): Promise<void> {
    if (closed) throw new FishError({ code: FishErrorCode.PLUGIN_DISPOSED, message: errorMessage(SCOPE, `the audit store ${options.path} is closed`) });
    initialising ??= (async () => {
      // better-sqlite3 runs in a worker thread (see worker-dialect.ts): its fsyncs and WAL
      // checkpoints block that thread, never the event loop of the process.
      db = new Kysely<AuditDatabase>({ dialect: new WorkerSqliteDialect({ path: options.path, busyTimeoutMs: options.busyTimeoutMs ?? 5000, synchronous: options.synchronous ?? 'FULL' }) });
      try {
        await sql`select 1`.execute(db);
      } catch (error) {
        await db.destroy().catch(() => undefined);
        db = undefined;
        throw auditFailed(`cannot open the audit database ${options.path}`, error);
      }
      const migrator = new Migrator({ db, provider: migrationProvider });
      const { error, results } = await migrator.migrateToLatest();
      if (error !== undefined) {
        const failed = results?.find((result) => result.status === 'Error')?.migrationName ?? 'unknown';
        throw auditFailed(`migration ${failed} failed on ${options.path}`, error);
      }
    })();
    try {
      await initialising;
    } catch (error) {
      initialising = undefined;
      throw error;
    }
  }

  async function ready(): Promise<Kysely<AuditDatabase>> {
    if (db === undefined || initialising === undefined) await init();
    if (closed) throw new FishError({ code: FishErrorCode.PLUGIN_DISPOSED, message: errorMessage(SCOPE, `the audit store ${options.path} is closed`) });
    return db as Kysely<AuditDatabase>;
  }

  /**
   * One write transaction. SQLite: BEGIN IMMEDIATE on the single connection, which kysely's
   * driver hands to one caller at a time, so concurrent calls in this process queue up and other
   * processes wait on busy_timeout. Return `new Rollback(value)` to undo and still answer.
   */
  async function write<T>(what: string, work: (connection: Connection) => Promise<T | Rollback<T>>): Promise<T> {
    const kysely = await ready();
    try {
      return await kysely.connection().execute(async (connection) => {
        await sql.raw(SQLITE_BEGIN).execute(connection);
        try {
          const result = await work(connection);
          if (result instanceof Rollback) {
            await sql.raw('rollback').execute(connection);
            return result.value;
          }
          await sql.raw('commit').execute(connection);
          return result;
        } catch (error) {
          try {
            await sql.raw('rollback').execute(connection);
          } catch {
            // SQLite may already have rolled back (e.g. SQLITE_FULL); nothing more to undo.
          }
          throw error;
        }
      });
    } catch (error) {
      throw auditFailed(what, error);
    }
  }

  async function read<T>(what: string, work: (connection: Connection) => Promise<T>): Promise<T> {
    const kysely = await ready();
    try {
      return await work(kysely);
    } catch (error) {
      throw auditFailed(what, error);
    }
  }

  const store: SqliteAuditStore = {
    specificationVersion: 'v1',
    name: 'sqlite',
    path: options.path,
    init,

    insertIncident: (incident) =>
      write(`cannot insert incident ${incident.id}`, async (connection) => {
        await connection
          .insertInto('incidents')
          .values({
            id: incident.id,
            fingerprint: incident.fingerprint,
            host: incident.host,
            service: incident.service,
            pattern_id: incident.patternId,
            candidates_json: JSON.stringify(incident.candidates),
            confidence: incident.confidence,
            method: incident.method,
            reason: redactSecrets(incident.reason),
            evidence_json: JSON.stringify(incident.evidence.map(redactSecrets)),
            event_count: incident.eventCount,
            first_seen: incident.firstSeen,
            last_seen: incident.lastSeen,
            created_at: incident.createdAt,
          })
          .execute();
        await appendAudit(connection, {
          at: incident.createdAt,
          entity: 'incident',
          entityId: incident.id,
          action: 'created',
          data: { patternId: incident.patternId, host: incident.host, service: incident.service, confidence: incident.confidence, method: incident.method, fingerprint: incident.fingerprint },
        });
      }),

    getIncident: (id) =>
      read(`cannot read incident ${id}`, async (connection) => {
        const row = await connection.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : toIncident(row);
      }),

    listIncidents: (filter = {}) =>
      read('cannot list incidents', async (connection) => {
        const rows = await connection.selectFrom('incidents').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit ?? 50).execute();
        return rows.map(toIncident);
      }),

    insertProposal: (proposal) =>
      write(`cannot insert proposal ${proposal.id}`, async (connection) => {
        await connection
          .insertInto('proposals')
          .values({
            id: proposal.id,
            incident_id: proposal.incidentId,
            pattern_id: proposal.patternId,
            target_host: proposal.targetHost,
            service: proposal.service,
            confidence: proposal.confidence,
            status: proposal.status,
            dry_run: proposal.dryRun ? 1 : 0,
            auto_exec: proposal.autoExec ? 1 : 0,
            created_at: proposal.createdAt,
            expires_at: proposal.expiresAt,
            decided_at: proposal.decidedAt ?? null,
            decided_by: proposal.decidedBy ?? null,
            notification_id: proposal.notificationId ?? null,
          })
          .execute();
        await appendAudit(connection, {
          at: proposal.createdAt,
          entity: 'proposal',
          entityId: proposal.id,
          action: 'created',
          data: { incidentId: proposal.incidentId, patternId: proposal.patternId, targetHost: proposal.targetHost, status: proposal.status, dryRun: proposal.dryRun, autoExec: proposal.autoExec, expiresAt: proposal.expiresAt },
        });
      }),

    getProposal: (id) =>
      read(`cannot read proposal ${id}`, async (connection) => {
        const row = await connection.selectFrom('proposals').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : toProposal(row);
      }),

    listProposals: (filter = {}) =>
      read('cannot list proposals', async (connection) => {
        let query = connection.selectFrom('proposals').selectAll();
        const wanted = statuses(filter.status);
        if (wanted !== undefined) query = query.where('status', 'in', [...wanted]);
        const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit ?? 50).execute();
        return rows.map(toProposal);
      }),

    setProposalNotification: (id, notificationId) =>
      write(`cannot record the notification of proposal ${id}`, async (connection) => {
        const result = await connection.updateTable('proposals').set({ notification_id: notificationId }).where('id', '=', id).executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) {
          throw new FishError({ code: FishErrorCode.PROPOSAL_NOT_FOUND, message: errorMessage(SCOPE, `proposal ${id} does not exist`) });
        }
        await appendAudit(connection, { at: new Date((options.clock ?? systemClock).now()).toISOString(), entity: 'proposal', entityId: id, action: 'notification-set', data: { notificationId } });
      }),

    async transitionProposal(transition: ProposalTransition) {
      if (!isLegalProposalTransition(transition.from, transition.to)) {
        throw new FishError({
          code: FishErrorCode.STATE_TRANSITION_ILLEGAL,
          message: errorMessage(SCOPE, `proposal ${transition.id}: ${transition.from} -> ${transition.to} is not a legal transition`),
          details: { proposalId: transition.id, from: transition.from, to: transition.to },
        });
      }
      return write(`cannot move proposal ${transition.id} to ${transition.to}`, async (connection) => {
        // Compare-and-set: only the caller who still sees `from` changes the row.
        const result = await connection
          .updateTable('proposals')
          .set({ status: transition.to, decided_at: transition.at, decided_by: transition.actor })
          .where('id', '=', transition.id)
          .where('status', '=', transition.from)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return new Rollback<ProposalRecord | undefined>(undefined);
        await connection
          .insertInto('decisions')
          .values({
            id: randomUUID(),
            proposal_id: transition.id,
            from_status: transition.from,
            to_status: transition.to,
            actor: transition.actor,
            token_id: transition.tokenId ?? null,
            reason: transition.reason ?? null,
            decided_at: transition.at,
          })
          .execute();
        const data: Record<string, unknown> = { from: transition.from, to: transition.to, actor: transition.actor };
        if (transition.tokenId !== undefined) data.tokenId = transition.tokenId;
        if (transition.reason !== undefined) data.reason = redactSecrets(transition.reason);
        await appendAudit(connection, { at: transition.at, entity: 'decision', entityId: transition.id, action: transition.to, data });
        const row = await connection.selectFrom('proposals').selectAll().where('id', '=', transition.id).executeTakeFirstOrThrow();
        return toProposal(row);
      });
    },

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
            })
            .execute();
        } catch (error) {
          // The UNIQUE constraint is the last word, also for writers in other processes.
          if (isUniqueViolation(error) && /proposal_id/.test((error as Error).message)) return new Rollback(false);
          throw error;
        }
        await appendAudit(connection, {
          at: execution.createdAt,
          entity: 'execution',
          entityId: execution.id,
          action: 'created',
          data: { proposalId: execution.proposalId, patternId: execution.patternId, targetHost: execution.targetHost, status: execution.status, dryRun: execution.dryRun },
        });
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
        const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit ?? 50).execute();
        return rows.map(toExecution);
      }),

    async transitionExecution(transition: ExecutionTransition) {
      const legalFrom = transition.from.filter((from) => isLegalExecutionTransition(from, transition.to));
      if (legalFrom.length === 0) {
        throw new FishError({
          code: FishErrorCode.STATE_TRANSITION_ILLEGAL,
          message: errorMessage(SCOPE, `execution ${transition.id}: no legal transition from [${transition.from.join(', ')}] to ${transition.to}`),
          details: { executionId: transition.id, from: [...transition.from], to: transition.to },
        });
      }
      return write(`cannot move execution ${transition.id} to ${transition.to}`, async (connection) => {
        const current = await connection.selectFrom('executions').selectAll().where('id', '=', transition.id).executeTakeFirst();
        if (current === undefined || !legalFrom.includes(current.status as ExecutionStatus)) return new Rollback<ExecutionRecord | undefined>(undefined);
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
          data.step = { verb: transition.appendStep.verb, script: transition.appendStep.script, exitCode: transition.appendStep.exitCode, durationMs: transition.appendStep.durationMs, timedOut: transition.appendStep.timedOut, dryRun: transition.appendStep.dryRun };
        }
        if (transition.detail !== undefined) data.detail = detail;
        await appendAudit(connection, { at: transition.at, entity: 'execution', entityId: transition.id, action: transition.to, data });
        return toExecution({ ...current, status: transition.to, updated_at: transition.at, steps_json: JSON.stringify(steps), detail });
      });
    },

    recordNotification: (notification) =>
      write(`cannot record notification ${notification.id}`, async (connection) => {
        await connection
          .insertInto('notifications')
          .values({
            id: notification.id,
            kind: notification.kind,
            proposal_id: notification.proposalId ?? null,
            incident_id: notification.incidentId ?? null,
            channel: notification.channel,
            receipt_id: notification.receiptId ?? null,
            title: redactSecrets(notification.title),
            ok: notification.ok ? 1 : 0,
            error: notification.error === undefined ? null : redactSecrets(notification.error),
            sent_at: notification.sentAt,
          })
          .execute();
        const data: Record<string, unknown> = { kind: notification.kind, channel: notification.channel, ok: notification.ok };
        if (notification.proposalId !== undefined) data.proposalId = notification.proposalId;
        if (notification.receiptId !== undefined) data.receiptId = notification.receiptId;
        if (notification.error !== undefined) data.error = redactSecrets(notification.error);
        await appendAudit(connection, { at: notification.sentAt, entity: 'notification', entityId: notification.id, action: notification.ok ? 'sent' : 'failed', data });
      }),

    listNotifications: (filter = {}) =>
      read('cannot list notifications', async (connection) => {
        let query = connection.selectFrom('notifications').selectAll();
        if (filter.proposalId !== undefined) query = query.where('proposal_id', '=', filter.proposalId);
        const rows = await query.orderBy('sent_at', 'desc').orderBy('id', 'desc').limit(filter.limit ?? 50).execute();
        return rows.map(toNotification);
      }),

    reserveBudget: (reservation: BudgetReservation) =>
      write(`cannot reserve budget ${reservation.id}`, async (connection) => {
        const amount = Math.round(reservation.amountEur * MICRO);
        const cap = Math.round(reservation.capEur * MICRO);
        // Check and insert in one write transaction: no other reservation can slip in between.
        const row = await connection
          .selectFrom('llm_usage')
          .select(sql<number | string | null>`sum(coalesce(actual_micro_eur, reserved_micro_eur))`.as('spent'))
          .where('month', '=', reservation.month)
          .executeTakeFirst();
        const spent = Number(row?.spent ?? 0);
        if (spent + amount > cap) return new Rollback(false);
        await connection
          .insertInto('llm_usage')
          .values({
            id: reservation.id,
            month: reservation.month,
            purpose: reservation.purpose,
            provider: reservation.provider,
            model: reservation.model,
            reserved_micro_eur: amount,
            actual_micro_eur: null,
            input_tokens: null,
            output_tokens: null,
            created_at: reservation.at,
            settled_at: null,
          })
          .execute();
        await appendAudit(connection, {
          at: reservation.at,
          entity: 'llm_usage',
          entityId: reservation.id,
          action: 'reserved',
          data: { month: reservation.month, amountEur: amount / MICRO, capEur: cap / MICRO, spentBeforeEur: spent / MICRO, purpose: reservation.purpose, provider: reservation.provider, model: reservation.model },
        });
        return true;
      }),

    settleBudget: (settlement: BudgetSettlement) =>
      write(`cannot settle budget ${settlement.id}`, async (connection) => {
        const actual = Math.round(settlement.actualEur * MICRO);
        const result = await connection
          .updateTable('llm_usage')
          .set({ actual_micro_eur: actual, input_tokens: settlement.inputTokens, output_tokens: settlement.outputTokens, settled_at: settlement.at })
          .where('id', '=', settlement.id)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) {
          throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage(SCOPE, `budget reservation ${settlement.id} does not exist`) });
        }
        await appendAudit(connection, {
          at: settlement.at,
          entity: 'llm_usage',
          entityId: settlement.id,
          action: 'settled',
          data: { actualEur: actual / MICRO, inputTokens: settlement.inputTokens, outputTokens: settlement.outputTokens },
        });
      }),

    spentInMonth: (month) =>
      read(`cannot sum the spend of ${month}`, async (connection) => {
        const row = await connection
          .selectFrom('llm_usage')
          .select(sql<number | string | null>`sum(coalesce(actual_micro_eur, reserved_micro_eur))`.as('spent'))
          .where('month', '=', month)
          .executeTakeFirst();
        return Number(row?.spent ?? 0) / MICRO;
      }),

    listLlmUsage: (filter = {}) =>
      read('cannot list llm usage', async (connection) => {
        let query = connection.selectFrom('llm_usage').selectAll();
        if (filter.month !== undefined) query = query.where('month', '=', filter.month);
        const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit ?? 50).execute();
        return rows.map(toUsage);
      }),

    history: (filter = {}) =>
      read('cannot read the history', async (connection) => {
        let query = connection.selectFrom('audit_log').selectAll();
        if (filter.entityId !== undefined) query = query.where('entity_id', '=', filter.entityId);
        if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
        const rows = await query.orderBy('seq', 'asc').limit(filter.limit ?? 1000).execute();
        return rows.map(toEntry);
      }),

    recordSystemEvent: (action, data, at) =>
      write(`cannot record system event ${action}`, async (connection) => {
        await appendAudit(connection, { at, entity: 'system', entityId: 'system', action, data: JSON.parse(redactSecrets(JSON.stringify(data))) as Record<string, unknown> });
      }),

    async verifyChain() {
      await ready();
      return verifyAuditChain(options.path);
    },

    async close() {
      if (closed) return;
      closed = true;
      if (initialising !== undefined) await initialising.catch(() => undefined);
      await db?.destroy();
      db = undefined;
    },
  };
  return store;
}

function verifyDatabase(database: Database.Database): AuditChainReport {
  const rows = database.prepare('select seq, at, entity, entity_id, action, data_json, prev_hash, hash from audit_log order by seq asc').iterate() as IterableIterator<
    AuditDatabase['audit_log']
  >;
  function* mapped(): Generator<StoredChainRow> {
    for (const row of rows) {
      yield { seq: Number(row.seq), at: row.at, entity: row.entity, entityId: row.entity_id, action: row.action, dataJson: row.data_json, prevHash: row.prev_hash, hash: row.hash };
    }
  }
  const head = database.prepare('select seq, hash from audit_head where id = 1').get() as { seq: number; hash: string } | undefined;
  return verifyRows(mapped(), head === undefined ? { seq: 0, hash: GENESIS_HASH } : { seq: Number(head.seq), hash: head.hash });
}

/**
 * Checks the audit_log hash chain of a store, or of a database file (opened read-only).
 * `{ ok: false, firstBadSeq, problem }` names the first row that was edited, deleted or moved.
 */
export async function verifyAuditChain(target: SqliteAuditStore | string): Promise<AuditChainReport> {
  if (typeof target !== 'string') return target.verifyChain();
  const database = openSqlite({ path: target, busyTimeoutMs: 5000, synchronous: 'FULL', readonly: true });
  try {
    // One read transaction: a consistent snapshot, whatever writers do meanwhile (WAL).
    database.exec('begin');
    try {
      return verifyDatabase(database);
    } finally {
      database.exec('commit');
    }
  } finally {
    database.close();
  }
}
