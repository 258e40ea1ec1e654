import type { FishError } from '@fish-sre/core';
import type { Kysely } from 'kysely';
import type { AuditDatabase } from './schema.js';

/**
 * What differs between the databases an SQL audit store runs on. Everything else (schema,
 * migrations, queries, the hash chain) is portable kysely in this package and shared.
 */
export interface SqlAuditDialect {
  /** The store's name, as `AuditStore.name` (`sqlite`, `postgres`). */
  readonly name: string;
  /** Put first in error messages (`audit-sqlite`, `audit-postgres`). */
  readonly scope: string;
  /** Where the data lives, for messages: a file path, or a URL without its password. */
  readonly location: string;
  /** Several fish instances may use the database at once (see `AuditStore.shared`). */
  readonly shared: boolean;
  /** Creates the kysely instance (connections are opened lazily by its driver). */
  createKysely(): Kysely<AuditDatabase>;
  /**
   * Statements that open a write transaction holding the store's single write lock, so the
   * compare-and-set checks, budget sums and the hash chain see every earlier write. SQLite:
   * `begin immediate`. PostgreSQL: `begin` then a row lock on the `audit_head` row.
   */
  readonly beginWrite: readonly string[];
  /** Checks right after connecting, before migrations (settings read back, server version). */
  checkConnection?(kysely: Kysely<AuditDatabase>): Promise<void>;
  /** Checks after migrations (the rights the role needs on each table). */
  checkSchema?(kysely: Kysely<AuditDatabase>): Promise<void>;
  /** A driver error as a FishError naming what failed (auth, rights, unreachable ...). */
  toFishError(what: string, error: unknown): FishError;
  /** A UNIQUE / PRIMARY KEY violation: the database's last word on "only one". */
  isUniqueViolation(error: unknown): boolean;
  /** Errors after which the whole transaction may simply be run again (serialization failure). */
  isTransactionRetryable?(error: unknown): boolean;
}
