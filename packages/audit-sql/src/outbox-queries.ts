import { redactSecrets, type AuditStore, type OutboxRecord, type OutboxStatus } from '@fish-sre/core';
import { Rollback, appendAudit, type StoreContext } from './append-audit.js';
import { statuses, toNumber } from './rows.js';
import type { AuditDatabase } from './schema.js';

type OutboxMethods = Pick<AuditStore, 'enqueueOutbox' | 'listOutbox' | 'claimOutbox' | 'settleOutbox' | 'outboxBacklog'>;

function toOutbox(row: AuditDatabase['outbox']): OutboxRecord {
  const entry: OutboxRecord = {
    id: row.id,
    kind: row.kind,
    title: row.title,
    payload: JSON.parse(row.payload_json) as Record<string, unknown>,
    status: row.status as OutboxStatus,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    nextAttemptAt: row.next_attempt_at,
    attempts: Number(row.attempts),
    channel: row.channel,
    channelSince: row.channel_since,
    failures: JSON.parse(row.failures_json) as Record<string, number>,
  };
  if (row.proposal_id !== null) entry.proposalId = row.proposal_id;
  if (row.incident_id !== null) entry.incidentId = row.incident_id;
  if (row.last_error !== null) entry.lastError = row.last_error;
  if (row.claimed_by !== null) entry.claimedBy = row.claimed_by;
  const until = toNumber(row.claimed_until_ms);
  if (until !== undefined) entry.claimedUntil = new Date(until).toISOString();
  if (row.settled_at !== null) entry.settledAt = row.settled_at;
  if (row.receipt_id !== null) entry.receiptId = row.receipt_id;
  return entry;
}

/**
 * The delivery outbox: a notification is written before it is sent; an instance claims a row
 * (a claim lapses, so a crashed sender does not hold it) and settles it with the attempt's result.
 */
export function outboxMethods(context: StoreContext): OutboxMethods {
  const { write, read } = context;
  return {
    enqueueOutbox: (entry) =>
      write(`cannot queue notification ${entry.id}`, async (connection) => {
        await connection
          .insertInto('outbox')
          .values({
            id: entry.id,
            kind: entry.kind,
            proposal_id: entry.proposalId ?? null,
            incident_id: entry.incidentId ?? null,
            title: redactSecrets(entry.title),
            payload_json: redactSecrets(JSON.stringify(entry.payload)),
            status: 'pending',
            created_at: entry.createdAt,
            expires_at: entry.expiresAt,
            next_attempt_at: entry.nextAttemptAt,
            next_attempt_ms: Date.parse(entry.nextAttemptAt),
            attempts: entry.attempts,
            channel: entry.channel,
            channel_since: entry.channelSince,
            failures_json: JSON.stringify(entry.failures),
            last_error: entry.lastError === undefined ? null : redactSecrets(entry.lastError),
            claimed_by: null,
            claimed_until_ms: null,
            settled_at: null,
            receipt_id: null,
          })
          .execute();
        const data: Record<string, unknown> = { kind: entry.kind, channel: entry.channel, expiresAt: entry.expiresAt };
        if (entry.proposalId !== undefined) data.proposalId = entry.proposalId;
        await appendAudit(connection, { at: entry.createdAt, entity: 'outbox', entityId: entry.id, action: 'queued', data });
      }),

    listOutbox: (filter = {}) =>
      read('cannot list the outbox', async (connection) => {
        let query = connection.selectFrom('outbox').selectAll();
        const wanted = statuses(filter.status);
        if (wanted !== undefined) query = query.where('status', 'in', [...wanted]);
        if (filter.proposalId !== undefined) query = query.where('proposal_id', '=', filter.proposalId);
        if (filter.dueBy !== undefined) {
          const due = Date.parse(filter.dueBy);
          query = query
            .where('status', '=', 'pending')
            .where('next_attempt_ms', '<=', due)
            .where((eb) => eb.or([eb('claimed_until_ms', 'is', null), eb('claimed_until_ms', '<=', due)]));
        }
        const rows = await query
          .orderBy('created_at', 'asc')
          .orderBy('id', 'asc')
          .limit(filter.limit ?? 100)
          .execute();
        return rows.map(toOutbox);
      }),

    claimOutbox: (claim) =>
      write(`cannot claim notification ${claim.id}`, async (connection) => {
        const row = await connection.selectFrom('outbox').selectAll().where('id', '=', claim.id).executeTakeFirst();
        if (row === undefined || row.status !== 'pending') return new Rollback(undefined);
        const held = toNumber(row.claimed_until_ms);
        if (row.claimed_by !== null && row.claimed_by !== claim.owner && held !== undefined && held > Date.parse(claim.at)) return new Rollback(undefined);
        const until = Date.parse(claim.until);
        await connection.updateTable('outbox').set({ claimed_by: claim.owner, claimed_until_ms: until }).where('id', '=', claim.id).execute();
        return toOutbox({ ...row, claimed_by: claim.owner, claimed_until_ms: until });
      }),

    settleOutbox: (settlement) =>
      write(`cannot record the delivery of notification ${settlement.id}`, async (connection) => {
        const lastError = settlement.lastError === undefined ? null : redactSecrets(settlement.lastError);
        const result = await connection
          .updateTable('outbox')
          .set({
            status: settlement.status,
            attempts: settlement.attempts,
            channel: settlement.channel,
            channel_since: settlement.channelSince,
            failures_json: JSON.stringify(settlement.failures),
            next_attempt_at: settlement.nextAttemptAt,
            next_attempt_ms: Date.parse(settlement.nextAttemptAt),
            ...(lastError !== null ? { last_error: lastError } : {}),
            ...(settlement.receiptId !== undefined ? { receipt_id: settlement.receiptId } : {}),
            settled_at: settlement.status === 'pending' ? null : settlement.at,
            claimed_by: null,
            claimed_until_ms: null,
          })
          .where('id', '=', settlement.id)
          .where('status', '=', 'pending')
          .where('claimed_by', '=', settlement.owner)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) !== 1) return new Rollback(false);
        const data: Record<string, unknown> = { channel: settlement.channel, attempts: settlement.attempts };
        if (lastError !== null) data.error = lastError;
        if (settlement.receiptId !== undefined) data.receiptId = settlement.receiptId;
        const action = settlement.status === 'pending' ? 'retry' : settlement.status;
        await appendAudit(connection, { at: settlement.at, entity: 'outbox', entityId: settlement.id, action, data });
        return true;
      }),

    outboxBacklog: () =>
      read('cannot count the outbox', async (connection) => {
        const pending = connection.selectFrom('outbox').where('status', '=', 'pending');
        const count = await pending.select((eb) => eb.fn.countAll<number | string>().as('count')).executeTakeFirst();
        const oldest = await pending.select('created_at').orderBy('created_at', 'asc').limit(1).executeTakeFirst();
        return { pending: Number(count?.count ?? 0), ...(oldest ? { oldestCreatedAt: oldest.created_at } : {}) };
      }),
  };
}
