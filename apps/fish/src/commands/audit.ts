import type { AuditStore } from '@fish-sre/core';

/** Prints the audit history, one line per state change. */
export async function printHistory(audit: AuditStore, write: (text: string) => void, filter: { entityId?: string } = {}): Promise<void> {
  for (const entry of await audit.history(filter)) {
    const details = Object.entries(entry.data)
      .filter(([, value]) => value !== undefined && value !== null)
      .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
      .join(' ');
    write(`  ${String(entry.seq).padStart(3)} ${entry.at} ${entry.entity.padEnd(12)} ${entry.entityId.padEnd(25)} ${entry.action.padEnd(18)} ${details}\n`);
  }
}
