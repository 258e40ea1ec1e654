import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { definePlugin } from '@fish-sre/core';
import { createSqliteAuditStore } from './sqlite-audit-store.js';

export const VERSION = '0.1.0';

export { createSqliteAuditStore, verifyAuditChain, type SqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite-audit-store.js';
// The portable part lives in @fish-sre/audit-sql (shared with audit-postgres); re-exported for existing users.
export { canonicalJson, chainHash, verifyRows, GENESIS_HASH, MIGRATIONS, migrationProvider, type AuditChainReport, type ChainedRow, type StoredChainRow, type AuditDatabase } from '@fish-sre/audit-sql';

export const sqliteAuditOptionsSchema = z.strictObject({
  /** Database file; a relative path is taken inside the plugin's data folder. */
  path: z.string().min(1).default('audit.sqlite'),
  busyTimeoutMs: z.number().int().nonnegative().optional(),
  synchronous: z.enum(['FULL', 'NORMAL']).optional(),
});

export const sqliteAuditPlugin = definePlugin({
  kind: 'audit',
  type: 'sqlite',
  packageName: '@fish-sre/audit-sqlite',
  version: VERSION,
  optionsSchema: sqliteAuditOptionsSchema,
  create(options, context) {
    const path = options.path === ':memory:' || isAbsolute(options.path) ? options.path : join(context.dataDir, options.path);
    return createSqliteAuditStore({ ...options, path, clock: context.clock });
  },
});
