import { canonicalJson, type AuditChainReport, type StoredChainRow } from './audit-chain.js';
import type { ExecutionTable, ProposalTable } from './schema.js';

/** The tables whose rows fish acts on, each row compared with what its chained entries recorded. */
export type CheckedTable = 'proposals' | 'executions';

/** A row that differs from its chained entries: which one, and which field. */
export interface RowMismatch {
  table: CheckedTable;
  rowId: string;
  field: string;
  problem: string;
}

/** What the chain says a row holds; a field is absent when no entry recorded it (entries written by an older version). */
type Expected = Map<string, unknown>;

/** The chained fields of a step (its output is redacted and truncated, so it is not compared). */
const STEP_FIELDS = ['verb', 'script', 'exitCode', 'durationMs', 'timedOut', 'dryRun'] as const;

function stepSummary(step: Record<string, unknown>): string {
  const picked: Record<string, unknown> = {};
  for (const field of STEP_FIELDS) picked[field] = step[field];
  return canonicalJson(picked);
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = typeof value === 'string' ? JSON.stringify(value) : canonicalJson(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Replays the chained `proposal`, `decision` and `execution` entries into the state each
 * `proposals` and `executions` row must hold, then compares the rows with it. A row edited in
 * the database (a status set to approved, a pin or a target host changed, an outcome rewritten),
 * inserted without an entry, or deleted while its entries stay, is named with its table, id and
 * field. Feed every chain row in seq order with `add`, then each table row with `checkProposal` /
 * `checkExecution`, then call `unseen`.
 */
export class RowCrossCheck {
  readonly #proposals = new Map<string, Expected>();
  readonly #executions = new Map<string, Expected>();
  readonly #seen = { proposals: new Set<string>(), executions: new Set<string>() };

  add(row: StoredChainRow): void {
    if (row.entity !== 'proposal' && row.entity !== 'decision' && row.entity !== 'execution') return;
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(row.dataJson) as Record<string, unknown>;
    } catch {
      return; // The chain check already failed on such a row.
    }
    if (row.entity === 'proposal') this.#proposal(row, data);
    else if (row.entity === 'decision') {
      const expected = this.#proposals.get(row.entityId);
      if (expected === undefined) return;
      expected.set('status', data.to);
      expected.set('decided_at', row.at);
      expected.set('decided_by', data.actor);
    } else this.#execution(row, data);
  }

  #proposal(row: StoredChainRow, data: Record<string, unknown>): void {
    if (row.action === 'created') {
      const expected: Expected = new Map<string, unknown>([
        ['incident_id', data.incidentId],
        ['pattern_id', data.patternId],
        ['target_host', data.targetHost],
        ['status', data.status],
        ['dry_run', data.dryRun],
        ['auto_exec', data.autoExec],
        ['created_at', row.at],
        ['expires_at', data.expiresAt],
        ['decided_at', null],
        ['decided_by', null],
        ['notification_id', null],
        ['pin', data.pin ?? null],
      ]);
      if ('service' in data) expected.set('service', data.service);
      if ('confidence' in data) expected.set('confidence', data.confidence);
      this.#proposals.set(row.entityId, expected);
    } else if (row.action === 'notification-set') {
      this.#proposals.get(row.entityId)?.set('notification_id', data.notificationId);
    }
  }

  #execution(row: StoredChainRow, data: Record<string, unknown>): void {
    if (row.action === 'created') {
      const steps = Array.isArray(data.steps) ? (data.steps as Record<string, unknown>[]).map(stepSummary) : [];
      this.#executions.set(
        row.entityId,
        new Map<string, unknown>([
          ['proposal_id', data.proposalId],
          ['pattern_id', data.patternId],
          ['target_host', data.targetHost],
          ['status', data.status],
          ['dry_run', data.dryRun],
          ['created_at', row.at],
          ['updated_at', row.at],
          ['owner', data.owner ?? null],
          ['detail', data.detail ?? null],
          ['steps', steps],
        ]),
      );
      return;
    }
    const expected = this.#executions.get(row.entityId);
    if (expected === undefined) return;
    expected.set('status', data.to);
    expected.set('updated_at', row.at);
    if ('detail' in data) expected.set('detail', data.detail);
    if (data.step !== null && typeof data.step === 'object') (expected.get('steps') as string[]).push(stepSummary(data.step as Record<string, unknown>));
  }

  checkProposal(row: ProposalTable): RowMismatch | undefined {
    this.#seen.proposals.add(row.id);
    const expected = this.#proposals.get(row.id);
    if (expected === undefined) return { table: 'proposals', rowId: row.id, field: 'id', problem: 'the row has no chained entry: it was inserted outside fish' };
    const actual: Record<string, unknown> = {
      incident_id: row.incident_id,
      pattern_id: row.pattern_id,
      target_host: row.target_host,
      service: row.service,
      confidence: Number(row.confidence),
      status: row.status,
      dry_run: Number(row.dry_run) === 1,
      auto_exec: Number(row.auto_exec) === 1,
      created_at: row.created_at,
      expires_at: row.expires_at,
      decided_at: row.decided_at,
      decided_by: row.decided_by,
      notification_id: row.notification_id,
      pin: row.pin_json === null ? null : parsedOrText(row.pin_json),
    };
    return compare('proposals', row.id, expected, actual);
  }

  checkExecution(row: ExecutionTable): RowMismatch | undefined {
    this.#seen.executions.add(row.id);
    const expected = this.#executions.get(row.id);
    if (expected === undefined) return { table: 'executions', rowId: row.id, field: 'id', problem: 'the row has no chained entry: it was inserted outside fish' };
    const steps = parsedOrText(row.steps_json);
    const actual: Record<string, unknown> = {
      proposal_id: row.proposal_id,
      pattern_id: row.pattern_id,
      target_host: row.target_host,
      status: row.status,
      dry_run: Number(row.dry_run) === 1,
      created_at: row.created_at,
      updated_at: row.updated_at,
      owner: row.owner ?? null,
      detail: row.detail,
      steps: Array.isArray(steps) ? (steps as Record<string, unknown>[]).map((step) => (step !== null && typeof step === 'object' ? stepSummary(step) : canonicalJson(step))) : steps,
    };
    return compare('executions', row.id, expected, actual);
  }

  /** A row the chain recorded that no table row answered: deleted from the table. */
  unseen(): RowMismatch | undefined {
    for (const [table, expected] of [
      ['proposals', this.#proposals],
      ['executions', this.#executions],
    ] as const) {
      for (const id of expected.keys()) {
        if (!this.#seen[table].has(id)) return { table, rowId: id, field: 'id', problem: 'the row recorded in the audit chain is missing from the table: it was deleted' };
      }
    }
    return undefined;
  }
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function compare(table: CheckedTable, rowId: string, expected: Expected, actual: Record<string, unknown>): RowMismatch | undefined {
  for (const [field, value] of expected) {
    if (value === undefined) continue;
    if (canonicalJson(value) !== canonicalJson(actual[field] ?? null)) {
      return { table, rowId, field, problem: `${field} is ${shown(actual[field] ?? undefined)} but the audit chain recorded ${shown(value)}: the row was edited outside fish` };
    }
  }
  return undefined;
}

/** The verify answer for a mismatching row (the chain itself is intact). */
export function mismatchReport(mismatch: RowMismatch, chain: AuditChainReport): AuditChainReport {
  return {
    ...chain,
    ok: false,
    problem: `${mismatch.table} row ${mismatch.rowId}, field ${mismatch.field}: ${mismatch.problem}`,
    mismatch,
  };
}
