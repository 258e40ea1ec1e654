import type { AuditStore } from '@fish-sre/core';
import { Rollback, appendAudit, type StoreContext } from './append-audit.js';
import { toNumber } from './rows.js';

type CoordinationMethods = Required<Pick<AuditStore, 'acquireHostLock' | 'releaseHostLock' | 'claimIncident'>>;

/**
 * What several instances on one database agree on through it: who may run a fix on a host now,
 * and who opened the incident for a fingerprint. Each runs in one write transaction, which holds
 * the store's write lock, so the read-then-write below cannot interleave with another instance's.
 */
export function coordinationMethods(context: StoreContext): CoordinationMethods {
  const { write } = context;
  return {
    acquireHostLock: (request) =>
      write(`cannot take the lock of host ${request.host}`, async (connection) => {
        const held = await connection.selectFrom('host_locks').selectAll().where('host', '=', request.host).executeTakeFirst();
        const expires = Date.parse(request.expiresAt);
        if (held === undefined) {
          await connection.insertInto('host_locks').values({ host: request.host, owner: request.owner, expires_ms: expires }).execute();
          return true;
        }
        // Its owner extends it; anyone takes it once it lapsed (a crashed holder cannot keep it).
        if (held.owner !== request.owner && (toNumber(held.expires_ms) ?? 0) > Date.parse(request.at)) return new Rollback(false);
        await connection.updateTable('host_locks').set({ owner: request.owner, expires_ms: expires }).where('host', '=', request.host).execute();
        return true;
      }),

    releaseHostLock: (request) =>
      write(`cannot release the lock of host ${request.host}`, async (connection) => {
        await connection.deleteFrom('host_locks').where('host', '=', request.host).where('owner', '=', request.owner).execute();
      }),

    claimIncident: (claim) =>
      write(`cannot claim incident fingerprint ${claim.fingerprint}`, async (connection) => {
        const held = await connection.selectFrom('incident_claims').selectAll().where('fingerprint', '=', claim.fingerprint).executeTakeFirst();
        if (held !== undefined && (toNumber(held.until_ms) ?? 0) > Date.parse(claim.at)) return new Rollback(false);
        const values = { owner: claim.owner, claimed_at: claim.at, until_ms: Date.parse(claim.until) };
        if (held === undefined)
          await connection
            .insertInto('incident_claims')
            .values({ fingerprint: claim.fingerprint, ...values })
            .execute();
        else await connection.updateTable('incident_claims').set(values).where('fingerprint', '=', claim.fingerprint).execute();
        await appendAudit(connection, { at: claim.at, entity: 'system', entityId: claim.fingerprint, action: 'incident-claimed', data: { owner: claim.owner, until: claim.until } });
        return true;
      }),
  };
}
