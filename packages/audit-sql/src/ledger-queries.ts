import { FishError, FishErrorCode, errorMessage, redactSecrets, type AuditStore, type BudgetReservation, type BudgetSettlement } from '@fish-sre/core';
import { sql } from 'kysely';
import { Rollback, appendAudit, type StoreContext } from './append-audit.js';
import { MICRO, toEntry, toNotification, toUsage } from './rows.js';

type LedgerMethods = Pick<AuditStore, 'recordNotification' | 'listNotifications' | 'reserveBudget' | 'settleBudget' | 'spentInMonth' | 'listLlmUsage' | 'history' | 'recordSystemEvent'>;

/** Notifications, the LLM budget ledger, the history and system events. */
export function ledgerMethods(context: StoreContext): LedgerMethods {
  const { write, read } = context;
  return {
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
        const rows = await query
          .orderBy('sent_at', 'desc')
          .orderBy('id', 'desc')
          .limit(filter.limit ?? 50)
          .execute();
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
          data: {
            month: reservation.month,
            amountEur: amount / MICRO,
            capEur: cap / MICRO,
            spentBeforeEur: spent / MICRO,
            purpose: reservation.purpose,
            provider: reservation.provider,
            model: reservation.model,
          },
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
          throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage(context.scope, `budget reservation ${settlement.id} does not exist`) });
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
        const rows = await query
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .limit(filter.limit ?? 50)
          .execute();
        return rows.map(toUsage);
      }),

    history: (filter = {}) =>
      read('cannot read the history', async (connection) => {
        let query = connection.selectFrom('audit_log').selectAll();
        if (filter.entityId !== undefined) query = query.where('entity_id', '=', filter.entityId);
        if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
        const rows = await query
          .orderBy('seq', 'asc')
          .limit(filter.limit ?? 1000)
          .execute();
        return rows.map(toEntry);
      }),

    recordSystemEvent: (action, data, at) =>
      write(`cannot record system event ${action}`, async (connection) => {
        await appendAudit(connection, { at, entity: 'system', entityId: 'system', action, data: JSON.parse(redactSecrets(JSON.stringify(data))) as Record<string, unknown> });
      }),
  };
}
