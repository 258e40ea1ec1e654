import type { AbsenceStateStore, AbsenceStreamKey, AbsenceStreamRecord } from '../contracts/absence-state.js';

const keyOf = (stream: AbsenceStreamKey) => JSON.stringify([stream.patternId, stream.signalId, stream.host, stream.service]);

/**
 * The absence streams of the memory store. The merge rule every store follows: a newer
 * `lastSeen` wins; at the same `lastSeen`, `reported` only turns true (two writers, one row).
 */
export function memoryAbsence(): Required<AbsenceStateStore> {
  const rows = new Map<string, AbsenceStreamRecord>();
  return {
    async listAbsenceStreams(filter = {}) {
      return [...rows.values()]
        .sort((a, b) => Date.parse(b.lastSeen) - Date.parse(a.lastSeen))
        .slice(0, filter.limit ?? 10_000)
        .map((row) => ({ ...row }));
    },
    async saveAbsenceStreams(changes) {
      for (const key of changes.removed) rows.delete(keyOf(key));
      for (const stream of changes.streams) {
        const key = keyOf(stream);
        const held = rows.get(key);
        const lastSeen = Date.parse(stream.lastSeen);
        const heldSeen = held ? Date.parse(held.lastSeen) : Number.NEGATIVE_INFINITY;
        if (lastSeen > heldSeen) rows.set(key, { ...stream });
        else if (held && lastSeen === heldSeen && stream.reported) held.reported = true;
      }
    },
  };
}
