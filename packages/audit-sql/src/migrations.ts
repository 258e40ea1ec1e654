import { sql, type Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import { GENESIS_HASH } from './audit-chain.js';

/**
 * Versioned migrations, in code (no files to ship or find at run time). Written with kysely's
 * schema builder and portable types only: the same list runs on SQLite and PostgreSQL.
 * Never edit a published migration; add the next one.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('incidents')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('fingerprint', 'text', (column) => column.notNull())
        .addColumn('host', 'text', (column) => column.notNull())
        .addColumn('service', 'text', (column) => column.notNull())
        .addColumn('pattern_id', 'text', (column) => column.notNull())
        .addColumn('candidates_json', 'text', (column) => column.notNull())
        .addColumn('confidence', 'double precision', (column) => column.notNull())
        .addColumn('method', 'text', (column) => column.notNull())
        .addColumn('reason', 'text', (column) => column.notNull())
        .addColumn('evidence_json', 'text', (column) => column.notNull())
        .addColumn('event_count', 'integer', (column) => column.notNull())
        .addColumn('first_seen', 'text', (column) => column.notNull())
        .addColumn('last_seen', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('incidents_created_at').on('incidents').column('created_at').execute();
      await db.schema.createIndex('incidents_fingerprint').on('incidents').column('fingerprint').execute();

      await db.schema
        .createTable('proposals')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('incident_id', 'text', (column) => column.notNull().references('incidents.id').onDelete('restrict'))
        .addColumn('pattern_id', 'text', (column) => column.notNull())
        .addColumn('target_host', 'text', (column) => column.notNull())
        .addColumn('service', 'text', (column) => column.notNull())
        .addColumn('confidence', 'double precision', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull().check(sql`status in ('proposed', 'approved', 'denied', 'expired')`))
        .addColumn('dry_run', 'integer', (column) => column.notNull())
        .addColumn('auto_exec', 'integer', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('expires_at', 'text', (column) => column.notNull())
        .addColumn('decided_at', 'text')
        .addColumn('decided_by', 'text')
        .addColumn('notification_id', 'text')
        .execute();
      await db.schema.createIndex('proposals_status_created_at').on('proposals').columns(['status', 'created_at']).execute();
      await db.schema.createIndex('proposals_incident_id').on('proposals').column('incident_id').execute();

      await db.schema
        .createTable('decisions')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('proposal_id', 'text', (column) => column.notNull().references('proposals.id').onDelete('restrict'))
        .addColumn('from_status', 'text', (column) => column.notNull())
        .addColumn('to_status', 'text', (column) => column.notNull())
        .addColumn('actor', 'text', (column) => column.notNull())
        .addColumn('token_id', 'text')
        .addColumn('reason', 'text')
        .addColumn('decided_at', 'text', (column) => column.notNull())
        .execute();
      // A proposal is decided once: the second decision row cannot exist.
      await db.schema.createIndex('decisions_proposal_id').on('decisions').column('proposal_id').unique().execute();

      await db.schema
        .createTable('executions')
        .addColumn('id', 'text', (column) => column.primaryKey())
        // UNIQUE: the database itself guarantees one execution per proposal.
        .addColumn('proposal_id', 'text', (column) => column.notNull().unique().references('proposals.id').onDelete('restrict'))
        .addColumn('pattern_id', 'text', (column) => column.notNull())
        .addColumn('target_host', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull().check(sql`status in ('pending', 'running', 'verifying', 'succeeded', 'failed', 'rolled_back', 'escalated', 'interrupted')`))
        .addColumn('dry_run', 'integer', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('updated_at', 'text', (column) => column.notNull())
        .addColumn('steps_json', 'text', (column) => column.notNull())
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('executions_status_created_at').on('executions').columns(['status', 'created_at']).execute();

      await db.schema
        .createTable('notifications')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('kind', 'text', (column) => column.notNull())
        .addColumn('proposal_id', 'text', (column) => column.references('proposals.id').onDelete('restrict'))
        .addColumn('incident_id', 'text', (column) => column.references('incidents.id').onDelete('restrict'))
        .addColumn('channel', 'text', (column) => column.notNull())
        .addColumn('receipt_id', 'text')
        .addColumn('title', 'text', (column) => column.notNull())
        .addColumn('ok', 'integer', (column) => column.notNull())
        .addColumn('error', 'text')
        .addColumn('sent_at', 'text', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('notifications_proposal_id').on('notifications').column('proposal_id').execute();

      await db.schema
        .createTable('llm_usage')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('month', 'text', (column) => column.notNull())
        .addColumn('purpose', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('model', 'text', (column) => column.notNull())
        .addColumn('reserved_micro_eur', 'bigint', (column) => column.notNull().check(sql`reserved_micro_eur >= 0`))
        .addColumn('actual_micro_eur', 'bigint', (column) => column.check(sql`actual_micro_eur >= 0`))
        .addColumn('input_tokens', 'integer')
        .addColumn('output_tokens', 'integer')
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('settled_at', 'text')
        .execute();
      await db.schema.createIndex('llm_usage_month').on('llm_usage').column('month').execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('seq', 'bigint', (column) => column.primaryKey())
        .addColumn('at', 'text', (column) => column.notNull())
        .addColumn('entity', 'text', (column) => column.notNull())
        .addColumn('entity_id', 'text', (column) => column.notNull())
        .addColumn('action', 'text', (column) => column.notNull())
        .addColumn('data_json', 'text', (column) => column.notNull())
        .addColumn('prev_hash', 'text', (column) => column.notNull())
        .addColumn('hash', 'text', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('audit_log_entity_id_seq').on('audit_log').columns(['entity_id', 'seq']).execute();

      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (column) => column.primaryKey())
        .addColumn('seq', 'bigint', (column) => column.notNull())
        .addColumn('hash', 'text', (column) => column.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of ['audit_head', 'audit_log', 'llm_usage', 'notifications', 'executions', 'decisions', 'proposals', 'incidents']) {
        await db.schema.dropTable(table).execute();
      }
    },
  },
  '0002_coordination': {
    async up(db: Kysely<unknown>) {
      // Several instances on one store: who runs an execution and until when (a lease), a lock
      // per target host, and the claim on an incident fingerprint until its cooldown ends.
      await db.schema.alterTable('executions').addColumn('owner', 'text').execute();
      await db.schema.alterTable('executions').addColumn('lease_expires_ms', 'bigint').execute();
      await db.schema
        .createTable('host_locks')
        .addColumn('host', 'text', (column) => column.primaryKey())
        .addColumn('owner', 'text', (column) => column.notNull())
        .addColumn('expires_ms', 'bigint', (column) => column.notNull())
        .execute();
      await db.schema
        .createTable('incident_claims')
        .addColumn('fingerprint', 'text', (column) => column.primaryKey())
        .addColumn('owner', 'text', (column) => column.notNull())
        .addColumn('claimed_at', 'text', (column) => column.notNull())
        .addColumn('until_ms', 'bigint', (column) => column.notNull())
        .execute();
      // The head row exists from now on: a write transaction can lock it before anything else
      // (PostgreSQL: SELECT ... FOR UPDATE), which makes it the store's one write lock.
      await sql`insert into audit_head (id, seq, hash) select 1, 0, ${GENESIS_HASH} where not exists (select 1 from audit_head where id = 1)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('incident_claims').execute();
      await db.schema.dropTable('host_locks').execute();
      await db.schema.alterTable('executions').dropColumn('lease_expires_ms').execute();
      await db.schema.alterTable('executions').dropColumn('owner').execute();
    },
  },
  '0003_proposal_pin': {
    async up(db: Kysely<unknown>) {
      // What a proposal showed (scripts and their digests): a fix changed since is not run.
      await db.schema.alterTable('proposals').addColumn('pin_json', 'text').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('proposals').dropColumn('pin_json').execute();
    },
  },
  '0004_outbox': {
    async up(db: Kysely<unknown>) {
      // Every notification is written here before it is sent, and stays until sent or expired.
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('kind', 'text', (column) => column.notNull())
        .addColumn('proposal_id', 'text')
        .addColumn('incident_id', 'text')
        .addColumn('title', 'text', (column) => column.notNull())
        .addColumn('payload_json', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull().check(sql`status in ('pending', 'sent', 'expired')`))
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('expires_at', 'text', (column) => column.notNull())
        .addColumn('next_attempt_at', 'text', (column) => column.notNull())
        .addColumn('next_attempt_ms', 'bigint', (column) => column.notNull())
        .addColumn('attempts', 'integer', (column) => column.notNull())
        .addColumn('channel', 'text', (column) => column.notNull())
        .addColumn('channel_since', 'text', (column) => column.notNull())
        .addColumn('failures_json', 'text', (column) => column.notNull())
        .addColumn('last_error', 'text')
        .addColumn('claimed_by', 'text')
        .addColumn('claimed_until_ms', 'bigint')
        .addColumn('settled_at', 'text')
        .addColumn('receipt_id', 'text')
        .execute();
      await db.schema.createIndex('outbox_status_next_attempt').on('outbox').columns(['status', 'next_attempt_ms']).execute();
      await db.schema.createIndex('outbox_created_at').on('outbox').column('created_at').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('outbox').execute();
    },
  },
  '0005_absence_streams': {
    async up(db: Kysely<unknown>) {
      // The last sign of life of each stream an `absent` signal watches: a restart still sees a
      // backup that stopped finishing before it.
      await db.schema
        .createTable('absence_streams')
        .addColumn('pattern_id', 'text', (column) => column.notNull())
        .addColumn('signal_id', 'text', (column) => column.notNull())
        .addColumn('host', 'text', (column) => column.notNull())
        .addColumn('service', 'text', (column) => column.notNull())
        .addColumn('last_seen', 'text', (column) => column.notNull())
        .addColumn('last_seen_ms', 'bigint', (column) => column.notNull())
        .addColumn('reported', 'integer', (column) => column.notNull().check(sql`reported in (0, 1)`))
        .addPrimaryKeyConstraint('absence_streams_pk', ['pattern_id', 'signal_id', 'host', 'service'])
        .execute();
      await db.schema.createIndex('absence_streams_last_seen').on('absence_streams').column('last_seen_ms').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('absence_streams').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
