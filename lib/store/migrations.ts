import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

/**
 * Versioned migrations, in code so they ship inside every bundle. Written
 * with Kysely's schema builder in types both SQLite and PostgreSQL accept
 * (text, bigint, integer). Never edit a released migration: add one.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('name', 'text')
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('users_upstream_subject', ['upstream', 'subject'])
        .execute();

      await db.schema
        .createTable('login_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('upstream', 'text', (c) => c.notNull())
        .addColumn('amr', 'text', (c) => c.notNull())
        .addColumn('auth_time', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoke_reason', 'text')
        .addColumn('client_ip', 'text')
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema.createIndex('login_sessions_user').on('login_sessions').column('user_id').execute();

      await db.schema
        .createTable('families')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('login_session_id', 'text', (c) => c.notNull().references('login_sessions.id'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('cluster', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoke_reason', 'text')
        .execute();
      await db.schema.createIndex('families_session').on('families').column('login_session_id').execute();
      await db.schema.createIndex('families_user').on('families').column('user_id').execute();

      await db.schema
        .createTable('refresh_tokens')
        .addColumn('hash', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'text', (c) => c.notNull().references('families.id'))
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addUniqueConstraint('refresh_tokens_family_generation', ['family_id', 'generation'])
        .execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .execute();

      await db.schema
        .createTable('server_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('username', 'text')
        .addColumn('cluster', 'text')
        .addColumn('family_id', 'text')
        .addColumn('session_id', 'text')
        .addColumn('client_ip', 'text')
        .addColumn('request_id', 'text')
        .addColumn('details', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
      await db.schema.createIndex('audit_events_user').on('audit_events').columns(['user_id', 'at']).execute();
    },
    async down(db: Kysely<unknown>) {
      for (const t of ['audit_events', 'server_secrets', 'signing_keys', 'refresh_tokens', 'families', 'login_sessions', 'users']) {
        await sql`drop table if exists ${sql.table(t)}`.execute(db);
      }
    },
  },
  /**
   * Hardening: where a credential came from, web-session idle tracking,
   * signing keys published ahead of use and withdrawable, and a small
   * key/value table for store-level facts (restore watermark, instance id).
   */
  '0002_hardening': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('families').addColumn('origin', 'text', (c) => c.notNull().defaultTo('page')).execute();
      await db.schema.alterTable('login_sessions').addColumn('last_seen_at', 'bigint').execute();
      await sql`update login_sessions set last_seen_at = created_at`.execute(db);
      await db.schema.alterTable('signing_keys').addColumn('activates_at', 'bigint').execute();
      await sql`update signing_keys set activates_at = created_at`.execute(db);
      await db.schema.alterTable('signing_keys').addColumn('revoked_at', 'bigint').execute();
      await db.schema
        .createTable('kubegate_meta')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').column('family_id').execute();
      await db.schema.createIndex('families_expires').on('families').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table if exists kubegate_meta`.execute(db);
    },
  },
  /** Background pruning finds what ended by index: revoked or expired families and sign-ins. */
  '0003_pruning': {
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex('families_revoked').on('families').column('revoked_at').execute();
      await db.schema.createIndex('login_sessions_expires').on('login_sessions').column('expires_at').execute();
      await db.schema.createIndex('login_sessions_revoked').on('login_sessions').column('revoked_at').execute();
    },
    async down(db: Kysely<unknown>) {
      for (const i of ['families_revoked', 'login_sessions_expires', 'login_sessions_revoked']) {
        await sql`drop index if exists ${sql.id(i)}`.execute(db);
      }
    },
  },
  /** One-time records shared by replicas: SAML requests and replay cache, sign-in tickets, codes. */
  '0004_ephemeral': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('ephemeral')
        .addColumn('ns', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('ephemeral_pk', ['ns', 'key'])
        .execute();
      await db.schema.createIndex('ephemeral_expires').on('ephemeral').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table if exists ephemeral`.execute(db);
    },
  },
  /**
   * Identity kept fresh (lib/upstream/recheck.ts): what a connector needs to
   * look at a person again (sealed with the KEK by the caller), when the
   * upstream last confirmed them, and since when it has not answered.
   */
  '0005_recheck': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('users').addColumn('recheck_state', 'text').execute();
      await db.schema.alterTable('users').addColumn('checked_at', 'bigint').execute();
      await db.schema.alterTable('users').addColumn('check_failing_since', 'bigint').execute();
      // The profile was last read from the upstream at the last sign-in.
      await sql`update users set checked_at = updated_at`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      for (const c of ['recheck_state', 'checked_at', 'check_failing_since']) {
        await db.schema.alterTable('users').dropColumn(c).execute();
      }
    },
  },
  /** Second factors and recovery codes (lib/mfa/). */
  '0006_mfa': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('mfa_factors')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('credential_id', 'text', (c) => c.unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('confirmed_at', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .addColumn('counter', 'bigint')
        .execute();
      await db.schema.createIndex('mfa_factors_user').on('mfa_factors').column('user_id').execute();
      await db.schema
        .createTable('recovery_codes')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addPrimaryKeyConstraint('recovery_codes_pk', ['user_id', 'hash'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await sql`drop table if exists recovery_codes`.execute(db);
      await sql`drop table if exists mfa_factors`.execute(db);
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
