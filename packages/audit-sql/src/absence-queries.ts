import type { AbsenceStateStore, AbsenceStreamRecord } from '@fish-sre/core';
import { sql } from 'kysely';
import type { StoreContext } from './append-audit.js';
import type { AuditDatabase } from './schema.js';

/** Rows per insert statement: 7 parameters each stays far below SQLite's and PostgreSQL's limits. */
const BATCH = 500;

function toStream(row: AuditDatabase['absence_streams']): AbsenceStreamRecord {
  return { patternId: row.pattern_id, signalId: row.signal_id, host: row.host, service: row.service, lastSeen: row.last_seen, reported: Number(row.reported) === 1 };
}

/**
 * The streams of the `absent` signals. One write per flush of the engine's absence timer, never
 * per log line. Two writers of one row (instances on one PostgreSQL) merge: a newer `last_seen`
 * wins; at the same one, `reported` only turns true.
 */
export function absenceMethods(context: StoreContext): Required<AbsenceStateStore> {
  const { write, read } = context;
  return {
    listAbsenceStreams: (filter = {}) =>
      read('cannot list the absence streams', async (connection) => {
        const rows = await connection
          .selectFrom('absence_streams')
          .selectAll()
          .orderBy('last_seen_ms', 'desc')
          .orderBy('pattern_id')
          .orderBy('signal_id')
          .orderBy('host')
          .orderBy('service')
          .limit(filter.limit ?? 10_000)
          .execute();
        return rows.map(toStream);
      }),

    saveAbsenceStreams: (changes) =>
      write(`cannot write ${changes.streams.length} absence streams`, async (connection) => {
        for (const key of changes.removed) {
          await connection
            .deleteFrom('absence_streams')
            .where('pattern_id', '=', key.patternId)
            .where('signal_id', '=', key.signalId)
            .where('host', '=', key.host)
            .where('service', '=', key.service)
            .execute();
        }
        for (let start = 0; start < changes.streams.length; start += BATCH) {
          const values = changes.streams.slice(start, start + BATCH).map((stream) => {
            const lastSeenMs = Date.parse(stream.lastSeen);
            if (!Number.isFinite(lastSeenMs))
              throw new Error(`absence stream ${stream.patternId}/${stream.signalId} on ${stream.host}/${stream.service}: lastSeen ${JSON.stringify(stream.lastSeen)} is not an ISO time`);
            return {
              pattern_id: stream.patternId,
              signal_id: stream.signalId,
              host: stream.host,
              service: stream.service,
              last_seen: stream.lastSeen,
              last_seen_ms: lastSeenMs,
              reported: stream.reported ? 1 : 0,
            };
          });
          await connection
            .insertInto('absence_streams')
            .values(values)
            .onConflict((conflict) =>
              conflict
                .columns(['pattern_id', 'signal_id', 'host', 'service'])
                .doUpdateSet({
                  last_seen: (expression) => expression.ref('excluded.last_seen'),
                  last_seen_ms: (expression) => expression.ref('excluded.last_seen_ms'),
                  reported: (expression) => expression.ref('excluded.reported'),
                })
                .where(sql<boolean>`excluded.last_seen_ms > absence_streams.last_seen_ms or (excluded.last_seen_ms = absence_streams.last_seen_ms and excluded.reported > absence_streams.reported)`),
            )
            .execute();
        }
      }),
  };
}
