import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { definePlugin } from '@fish-sre/core';
import { createSqliteAuditStore } from './sqlite-audit-store.js';

export const VERSION = '0.1.0';

export { createSqliteAuditStore, verifyAuditChain, type SqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite-audit-store.js';
export { canonicalJson, chainHash, verifyRows, GENESIS_HASH, type AuditChainReport, type ChainedRow, type StoredChainRow } from './audit-chain.js';
export { MIGRATIONS, migrationProvider } from './migrations.js';
export type { AuditDatabase } from './schema.js';

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
