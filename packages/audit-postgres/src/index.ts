import { definePlugin } from '@fish-sre/core';
import { PostgresAuditStoreOptionsSchema, createPostgresAuditStore } from './postgres-audit-store.js';

export const VERSION = '0.1.0';

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
