import type { AuditStore } from '../contracts/audit-store.js';
import type { AuditEntry, OutboxRecord, OutboxStatus } from '../contracts/records.js';
import { FishError, FishErrorCode, errorMessage } from '../errors.js';

type OutboxMethods = Pick<AuditStore, 'enqueueOutbox' | 'listOutbox' | 'claimOutbox' | 'settleOutbox' | 'outboxBacklog'>;
type Append = (entity: AuditEntry['entity'], entityId: string, action: string, data: Record<string, unknown>, at: string) => void;

const clone = <T>(value: T): T => structuredClone(value);
const byAge = (a: OutboxRecord, b: OutboxRecord) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const lapsed = (row: OutboxRecord, at: string) => row.claimedUntil === undefined || Date.parse(row.claimedUntil) <= Date.parse(at);

/** The delivery outbox of the memory store; atomic because nothing here awaits. */
export function memoryOutbox(append: Append): OutboxMethods {
  const rows = new Map<string, OutboxRecord>();
  return {
    async enqueueOutbox(entry) {
      if (rows.has(entry.id)) throw new FishError({ code: FishErrorCode.AUDIT_FAILED, message: errorMessage('audit', `outbox entry ${entry.id} already exists`) });
      rows.set(entry.id, { ...clone(entry), status: 'pending' });
      append('outbox', entry.id, 'queued', { kind: entry.kind, proposalId: entry.proposalId, channel: entry.channel, expiresAt: entry.expiresAt }, entry.createdAt);
    },
    async listOutbox(filter = {}) {
      const statuses: readonly OutboxStatus[] | undefined = typeof filter.status === 'string' ? [filter.status] : filter.status;
      const due = filter.dueBy === undefined ? undefined : Date.parse(filter.dueBy);
      return [...rows.values()]
        .filter((row) => statuses === undefined || statuses.includes(row.status))
        .filter((row) => filter.proposalId === undefined || row.proposalId === filter.proposalId)
        .filter((row) => due === undefined || (row.status === 'pending' && Date.parse(row.nextAttemptAt) <= due && lapsed(row, filter.dueBy!)))
        .sort(byAge)
        .slice(0, filter.limit ?? 100)
        .map(clone);
    },
    async claimOutbox(claim) {
      const row = rows.get(claim.id);
      if (row?.status !== 'pending') return undefined;
      if (row.claimedBy !== undefined && row.claimedBy !== claim.owner && !lapsed(row, claim.at)) return undefined;
      row.claimedBy = claim.owner;
      row.claimedUntil = claim.until;
      return clone(row);
    },
    async settleOutbox(settlement) {
      const row = rows.get(settlement.id);
      if (row?.status !== 'pending' || row.claimedBy !== settlement.owner) return false;
      const { id, owner: _owner, at, lastError, receiptId, ...state } = settlement;
      Object.assign(row, clone(state));
      delete row.claimedBy;
      delete row.claimedUntil;
      if (lastError !== undefined) row.lastError = lastError;
      if (receiptId !== undefined) row.receiptId = receiptId;
      if (settlement.status !== 'pending') row.settledAt = at;
      const action = settlement.status === 'pending' ? 'retry' : settlement.status;
      append(
        'outbox',
        id,
        action,
        { channel: settlement.channel, attempts: settlement.attempts, ...(lastError !== undefined ? { error: lastError } : {}), ...(receiptId !== undefined ? { receiptId } : {}) },
        at,
      );
      return true;
    },
    async outboxBacklog() {
      const pending = [...rows.values()].filter((row) => row.status === 'pending').sort(byAge);
      return { pending: pending.length, ...(pending[0] ? { oldestCreatedAt: pending[0].createdAt } : {}) };
    },
  };
}
