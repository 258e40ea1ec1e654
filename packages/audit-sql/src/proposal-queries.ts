import { randomUUID } from 'node:crypto';
import { FishError, FishErrorCode, errorMessage, isLegalProposalTransition, redactSecrets, type AuditStore, type ProposalRecord, type ProposalTransition } from '@fish-sre/core';
import { Rollback, appendAudit, type StoreContext } from './append-audit.js';
import { statuses, toIncident, toProposal } from './rows.js';

type IncidentAndProposalMethods = Pick<
  AuditStore,
  'insertIncident' | 'getIncident' | 'listIncidents' | 'insertProposal' | 'getProposal' | 'listProposals' | 'setProposalNotification' | 'transitionProposal'
>;

/** Incidents, proposals and the human decisions on them. */
export function incidentAndProposalMethods(context: StoreContext): IncidentAndProposalMethods {
  const { write, read } = context;
  return {
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
        const rows = await connection
          .selectFrom('incidents')
          .selectAll()
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .limit(filter.limit ?? 50)
          .execute();
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
            pin_json: proposal.pin === undefined ? null : JSON.stringify(proposal.pin),
          })
          .execute();
        await appendAudit(connection, {
          at: proposal.createdAt,
          entity: 'proposal',
          entityId: proposal.id,
          action: 'created',
          data: {
            incidentId: proposal.incidentId,
            patternId: proposal.patternId,
            targetHost: proposal.targetHost,
            service: proposal.service,
            confidence: proposal.confidence,
            status: proposal.status,
            dryRun: proposal.dryRun,
            autoExec: proposal.autoExec,
            expiresAt: proposal.expiresAt,
            ...(proposal.pin ? { pin: proposal.pin } : {}),
          },
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
        const rows = await query
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .limit(filter.limit ?? 50)
          .execute();
        return rows.map(toProposal);
      }),

    setProposalNotification: (id, notificationId) =>
      write(`cannot record the notification of proposal ${id}`, async (connection) => {
        const result = await connection.updateTable('proposals').set({ notification_id: notificationId }).where('id', '=', id).executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) {
          throw new FishError({ code: FishErrorCode.PROPOSAL_NOT_FOUND, message: errorMessage(context.scope, `proposal ${id} does not exist`) });
        }
        await appendAudit(connection, { at: context.now(), entity: 'proposal', entityId: id, action: 'notification-set', data: { notificationId } });
      }),

    async transitionProposal(transition: ProposalTransition) {
      if (!isLegalProposalTransition(transition.from, transition.to)) {
        throw new FishError({
          code: FishErrorCode.STATE_TRANSITION_ILLEGAL,
          message: errorMessage(context.scope, `proposal ${transition.id}: ${transition.from} -> ${transition.to} is not a legal transition`),
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
  };
}
