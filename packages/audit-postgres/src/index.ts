import { definePlugin } from '@fish-sre/core';
import { version } from '../package.json';
import { PostgresAuditStoreOptionsSchema, createPostgresAuditStore } from './postgres-audit-store.js';

/** This package's version, read from its package.json when it is built (never typed by hand). */
export const VERSION: string = version;

export { PostgresAuditStoreOptionsSchema, createPostgresAuditStore, describeDatabaseUrl, type PostgresAuditStore, type PostgresAuditStoreOptions } from './postgres-audit-store.js';

export const postgresAuditPlugin = definePlugin({
  kind: 'audit',
  type: 'postgres',
  packageName: '@fish-sre/audit-postgres',
  version: VERSION,
  optionsSchema: PostgresAuditStoreOptionsSchema,
  create(options, context) {
    return createPostgresAuditStore({ ...options, clock: context.clock, logger: context.logger });
  },
});
