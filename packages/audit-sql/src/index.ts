export const VERSION = '0.1.0';

export { createSqlAuditStore, type SqlAuditStore, type SqlAuditStoreOptions } from './sql-audit-store.js';
export type { SqlAuditDialect } from './sql-dialect.js';
export { canonicalJson, chainHash, parseChainAnchor, verifyRows, GENESIS_HASH, type AuditChainReport, type ChainAnchor, type ChainedRow, type StoredChainRow } from './audit-chain.js';
export { verifyStoreChain } from './verify-chain.js';
export { RowCrossCheck, mismatchReport, type CheckedTable, type RowMismatch } from './row-check.js';
export { MIGRATIONS, migrationProvider } from './migrations.js';
export type { AuditDatabase } from './schema.js';
