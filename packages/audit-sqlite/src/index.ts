import { isAbsolute, join } from 'node:path';
import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { SqliteAuditStoreOptionsSchema, createSqliteAuditStore } from './sqlite-audit-store.js';

export { createSqliteAuditStore, verifyAuditChain, SqliteAuditStoreOptionsSchema, type SqliteAuditStore, type SqliteAuditStoreOptions } from './sqlite-audit-store.js';
// The shape of every plugin package's index.ts (re-exports, VERSION from package.json, the
// descriptor), written down in docs/plugin-authoring.md and checked by scripts/check-packages.mjs:
// its likeness to the other packages' index.ts is the point, not a copy to factor out.
// The portable part lives in @fish-sre/audit-sql (shared with audit-postgres); re-exported for existing users.
export {
  canonicalJson,
  chainHash,
  verifyRows,
  GENESIS_HASH,
  MIGRATIONS,
  migrationProvider,
  type AuditChainReport,
  type ChainedRow,
  type StoredChainRow,
  type AuditDatabase,
} from '@fish-sre/audit-sql';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

/** `audit: { type: sqlite, options: { path: audit.sqlite } }` in a fish-sre config file. */
export const sqliteAuditPlugin = definePlugin({
  kind: 'audit',
  type: 'sqlite',
  packageName: '@fish-sre/audit-sqlite',
  version: VERSION,
  optionsSchema: SqliteAuditStoreOptionsSchema,
  create(options, context) {
    const path = options.path === ':memory:' || isAbsolute(options.path) ? options.path : join(context.dataDir, options.path);
    return createSqliteAuditStore({ ...options, path, clock: context.clock });
  },
});
