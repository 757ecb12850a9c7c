import { randomUUID } from 'node:crypto';
import { timeOrderedId } from '../util/ids';
import { type Kysely, Migrator, type Transaction } from 'kysely';
import { migrationProvider } from './migrations';
import type {
  AuditEvent,
  AuditInput,
  Family,
  LoginSession,
  NewFamily,
  RefreshContext,
  RevokeReason,
  RotateResult,
  SigningKeyRow,
  Store,
  User,
  UserProfile,
} from './types';

/** Row shapes as the database holds them (JSON lists as text; PostgreSQL may hand bigints back as strings). */
type Num = number | string;
interface UsersTable {
  id: string; upstream: string; subject: string; username: string; email: string | null; name: string | null;
  groups: string; created_at: Num; updated_at: Num;
}
interface LoginSessionsTable {
  id: string; user_id: string; upstream: string; amr: string; auth_time: Num; created_at: Num; expires_at: Num;
  revoked_at: Num | null; revoke_reason: string | null; client_ip: string | null; user_agent: string | null; last_seen_at: Num | null;
}
interface FamiliesTable {
  id: string; login_session_id: string; user_id: string; cluster: string; client_id: string; origin: string; created_at: Num;
  last_used_at: Num; expires_at: Num; generation: number; revoked_at: Num | null; revoke_reason: string | null;
}
interface RefreshTokensTable { hash: string; family_id: string; generation: number; created_at: Num; used_at: Num | null }
interface SigningKeysTable {
  kid: string; alg: string; private_jwk: string; public_jwk: string; created_at: Num; activates_at: Num | null; retired_at: Num | null;
  expires_at: Num | null; revoked_at: Num | null;
}
interface MetaTable { name: string; value: string }
interface ServerSecretsTable { name: string; value: string; created_at: Num }
interface AuditEventsTable {
  id: string; at: Num; kind: string; user_id: string | null; username: string | null; cluster: string | null;
  family_id: string | null; session_id: string | null; client_ip: string | null; request_id: string | null; details: string;
}
export interface Database {
  users: UsersTable;
  login_sessions: LoginSessionsTable;
  families: FamiliesTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  server_secrets: ServerSecretsTable;
  audit_events: AuditEventsTable;
  kubegate_meta: MetaTable;
}

const num = (v: Num): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: Num | null): number | null => (v === null ? null : num(v));

function toUser(r: UsersTable): User {
  return { ...r, groups: JSON.parse(r.groups) as string[], created_at: num(r.created_at), updated_at: num(r.updated_at) };
}
function toSession(r: LoginSessionsTable): LoginSession {
  return {
    ...r,
    amr: JSON.parse(r.amr) as string[],
    auth_time: num(r.auth_time),
    created_at: num(r.created_at),
    expires_at: num(r.expires_at),
    revoked_at: numOrNull(r.revoked_at),
    revoke_reason: r.revoke_reason,
    last_seen_at: r.last_seen_at === null ? num(r.created_at) : num(r.last_seen_at),
  };
}
function toFamily(r: FamiliesTable): Family {
  return {
    ...r,
    origin: r.origin as Family['origin'],
    generation: num(r.generation),
    created_at: num(r.created_at),
    last_used_at: num(r.last_used_at),
    expires_at: num(r.expires_at),
    revoked_at: numOrNull(r.revoked_at),
  };
}
function toKey(r: SigningKeysTable): SigningKeyRow {
  return {
    ...r,
    created_at: num(r.created_at),
    activates_at: r.activates_at === null ? num(r.created_at) : num(r.activates_at),
    retired_at: numOrNull(r.retired_at),
    expires_at: numOrNull(r.expires_at),
    revoked_at: numOrNull(r.revoked_at),
  };
}

/** The one read of a refresh: token, family, login session and user, by token hash. */
export function refreshContextQuery(db: Kysely<Database>, tokenHash: string) {
  return db
    .selectFrom('refresh_tokens as t')
    .innerJoin('families as f', 'f.id', 't.family_id')
    .innerJoin('login_sessions as s', 's.id', 'f.login_session_id')
    .innerJoin('users as u', 'u.id', 'f.user_id')
    .select([
      't.hash', 't.family_id', 't.generation as t_generation', 't.created_at as t_created_at', 't.used_at',
      'f.login_session_id', 'f.user_id', 'f.cluster', 'f.client_id', 'f.origin', 'f.created_at as f_created_at', 'f.last_used_at',
      'f.expires_at as f_expires_at', 'f.generation as f_generation', 'f.revoked_at as f_revoked_at', 'f.revoke_reason as f_revoke_reason',
      's.upstream as s_upstream', 's.amr', 's.auth_time', 's.created_at as s_created_at', 's.expires_at as s_expires_at',
      's.revoked_at as s_revoked_at', 's.revoke_reason as s_revoke_reason', 's.client_ip', 's.user_agent', 's.last_seen_at',
      'u.upstream as u_upstream', 'u.subject', 'u.username', 'u.email', 'u.name', 'u.groups',
      'u.created_at as u_created_at', 'u.updated_at as u_updated_at',
    ])
    .where('t.hash', '=', tokenHash);
}

export type RefreshContextRow = NonNullable<Awaited<ReturnType<ReturnType<typeof refreshContextQuery>['executeTakeFirst']>>>;

export function toRefreshContext(r: RefreshContextRow): RefreshContext {
  return {
    token: { hash: r.hash, family_id: r.family_id, generation: num(r.t_generation), created_at: num(r.t_created_at), used_at: numOrNull(r.used_at) },
    family: toFamily({
      id: r.family_id, login_session_id: r.login_session_id, user_id: r.user_id, cluster: r.cluster, client_id: r.client_id, origin: r.origin,
      created_at: r.f_created_at, last_used_at: r.last_used_at, expires_at: r.f_expires_at, generation: r.f_generation,
      revoked_at: r.f_revoked_at, revoke_reason: r.f_revoke_reason,
    }),
    session: toSession({
      id: r.login_session_id, user_id: r.user_id, upstream: r.s_upstream, amr: r.amr, auth_time: r.auth_time,
      created_at: r.s_created_at, expires_at: r.s_expires_at, revoked_at: r.s_revoked_at, revoke_reason: r.s_revoke_reason,
      client_ip: r.client_ip, user_agent: r.user_agent, last_seen_at: r.last_seen_at,
    }),
    user: toUser({
      id: r.user_id, upstream: r.u_upstream, subject: r.subject, username: r.username, email: r.email, name: r.name,
      groups: r.groups, created_at: r.u_created_at, updated_at: r.u_updated_at,
    }),
  };
}

/** The audit_events row for an event (ids are time-ordered). */
export function auditRow(e: AuditInput, now: number): AuditEventsTable {
  return {
    id: timeOrderedId(now), // sortable as text
    at: now,
    kind: e.kind,
    user_id: e.user_id ?? null,
    username: e.username ?? null,
    cluster: e.cluster ?? null,
    family_id: e.family_id ?? null,
    session_id: e.session_id ?? null,
    client_ip: e.client_ip ?? null,
    request_id: e.request_id ?? null,
    details: JSON.stringify(e.details ?? {}),
  };
}

/**
 * The Store on Kysely: the same queries serve SQLite and PostgreSQL; a
 * backend only supplies the dialect (sqlite.ts today).
 */
export class KyselyStore implements Store {
  constructor(protected readonly db: Kysely<Database>, private readonly onClose?: () => Promise<void>) {}

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider, migrationTableName: 'kubegate_migrations', migrationLockTableName: 'kubegate_migrations_lock' });
    const { error, results } = await migrator.migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (error || failed) {
      throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
    await this.onClose?.();
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('server_secrets').select('name').limit(1).execute();
  }

  async probeWrite(now: number): Promise<void> {
    await this.db
      .insertInto('kubegate_meta')
      .values({ name: 'write_probe', value: String(now) })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: String(now) }))
      .execute();
  }

  private audit(db: Kysely<Database> | Transaction<Database>, e: AuditInput, now: number) {
    return db.insertInto('audit_events').values(auditRow(e, now)).execute();
  }

  async upsertUser(p: UserProfile, now: number): Promise<User> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('users')
        .selectAll()
        .where('upstream', '=', p.upstream)
        .where('subject', '=', p.subject)
        .executeTakeFirst();
      const profile = { username: p.username, email: p.email ?? null, name: p.name ?? null, groups: JSON.stringify(p.groups) };
      if (existing) {
        await trx.updateTable('users').set({ ...profile, updated_at: now }).where('id', '=', existing.id).execute();
        return toUser({ ...existing, ...profile, updated_at: now });
      }
      const row: UsersTable = { id: randomUUID(), upstream: p.upstream, subject: p.subject, ...profile, created_at: now, updated_at: now };
      await trx.insertInto('users').values(row).execute();
      return toUser(row);
    });
  }

  async getUser(id: string): Promise<User | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toUser(r);
  }

  async createLoginSession(
    s: Omit<LoginSession, 'created_at' | 'revoked_at' | 'revoke_reason' | 'last_seen_at'>,
    now: number,
  ): Promise<LoginSession> {
    const row: LoginSessionsTable = { ...s, amr: JSON.stringify(s.amr), created_at: now, revoked_at: null, revoke_reason: null, last_seen_at: now };
    await this.db.insertInto('login_sessions').values(row).execute();
    return toSession(row);
  }

  async getLoginSession(id: string): Promise<{ session: LoginSession; user: User } | undefined> {
    const s = await this.db.selectFrom('login_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!s) return undefined;
    const u = await this.db.selectFrom('users').selectAll().where('id', '=', s.user_id).executeTakeFirst();
    return u && { session: toSession(s), user: toUser(u) };
  }

  async touchLoginSession(id: string, now: number): Promise<void> {
    await this.db.updateTable('login_sessions').set({ last_seen_at: now }).where('id', '=', id).execute();
  }

  async listLoginSessions(filter: { userId?: string; activeAt?: number }): Promise<LoginSession[]> {
    let q = this.db.selectFrom('login_sessions').selectAll().orderBy('created_at', 'desc');
    if (filter.userId) q = q.where('user_id', '=', filter.userId);
    if (filter.activeAt !== undefined) q = q.where('revoked_at', 'is', null).where('expires_at', '>', filter.activeAt);
    return (await q.execute()).map(toSession);
  }

  async revokeLoginSession(id: string, reason: RevokeReason, now: number, audit: AuditInput): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('login_sessions')
        .set({ revoked_at: now, revoke_reason: reason })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      const families = await trx
        .updateTable('families')
        .set({ revoked_at: now, revoke_reason: reason })
        .where('login_session_id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      await this.audit(trx, { ...audit, session_id: id, details: { ...audit.details, reason, families_revoked: Number(families.numUpdatedRows) } }, now);
      return true;
    });
  }

  async createFamily(f: NewFamily, now: number, audit: AuditInput): Promise<Family> {
    const row: FamiliesTable = {
      id: f.id,
      login_session_id: f.login_session_id,
      user_id: f.user_id,
      cluster: f.cluster,
      client_id: f.client_id,
      origin: f.origin,
      created_at: now,
      last_used_at: now,
      expires_at: f.expires_at,
      generation: 0,
      revoked_at: null,
      revoke_reason: null,
    };
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('families').values(row).execute();
      await trx.insertInto('refresh_tokens').values({ hash: f.first_token_hash, family_id: f.id, generation: 0, created_at: now, used_at: null }).execute();
      await this.audit(trx, { ...audit, family_id: f.id, session_id: f.login_session_id, cluster: f.cluster, user_id: f.user_id }, now);
    });
    return toFamily(row);
  }

  async getFamily(id: string): Promise<Family | undefined> {
    const r = await this.db.selectFrom('families').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toFamily(r);
  }

  async listFamilies(filter: { loginSessionId?: string; userId?: string }): Promise<Family[]> {
    let q = this.db.selectFrom('families').selectAll().orderBy('created_at', 'desc');
    if (filter.loginSessionId) q = q.where('login_session_id', '=', filter.loginSessionId);
    if (filter.userId) q = q.where('user_id', '=', filter.userId);
    return (await q.execute()).map(toFamily);
  }

  async findRefreshContext(tokenHash: string): Promise<RefreshContext | undefined> {
    const row = await refreshContextQuery(this.db, tokenHash).executeTakeFirst();
    return row && toRefreshContext(row);
  }

  async rotateRefreshToken(
    r: { tokenHash: string; successorHash: string; familyId: string; generation: number },
    now: number,
    audit: AuditInput,
  ): Promise<RotateResult> {
    return this.db.transaction().execute(async (trx) => {
      const used = await trx
        .updateTable('refresh_tokens')
        .set({ used_at: now })
        .where('hash', '=', r.tokenHash)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(used.numUpdatedRows) === 0) return 'already_used';
      await trx
        .insertInto('refresh_tokens')
        .values({ hash: r.successorHash, family_id: r.familyId, generation: r.generation + 1, created_at: now, used_at: null })
        .execute();
      await trx
        .updateTable('families')
        .set({ last_used_at: now, generation: r.generation + 1 })
        .where('id', '=', r.familyId)
        .execute();
      await this.audit(trx, { ...audit, family_id: r.familyId }, now);
      return 'rotated';
    });
  }

  async revokeFamily(id: string, reason: RevokeReason, now: number, audit: AuditInput): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('families')
        .set({ revoked_at: now, revoke_reason: reason })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await this.audit(trx, { ...audit, family_id: id, details: { ...audit.details, reason } }, now);
      return true;
    });
  }

  async listSigningKeys(): Promise<SigningKeyRow[]> {
    return (await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid').execute()).map(toKey);
  }

  async activateSigningKey(next: SigningKeyRow, retireExpiresAt: number, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const retired = await trx
        .updateTable('signing_keys')
        .set({ retired_at: now, expires_at: retireExpiresAt })
        .where('retired_at', 'is', null)
        .where('revoked_at', 'is', null)
        .returning('kid')
        .execute();
      await trx.insertInto('signing_keys').values(next).execute();
      await this.audit(trx, { kind: 'key.created', details: { kid: next.kid, alg: next.alg, retired: retired.map((r) => r.kid) } }, now);
    });
  }

  async scheduleSigningKey(next: SigningKeyRow, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('signing_keys').values(next).execute();
      await this.audit(trx, { kind: 'key.published', details: { kid: next.kid, alg: next.alg, activates_at: next.activates_at } }, now);
    });
  }

  async retireSigningKeysBefore(successor: { kid: string; activates_at: number }, expiresAt: number, now: number): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
      const retired = await trx
        .updateTable('signing_keys')
        .set({ retired_at: successor.activates_at, expires_at: expiresAt })
        .where('retired_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('kid', '!=', successor.kid)
        .where('activates_at', '<', successor.activates_at)
        .returning('kid')
        .execute();
      const kids = retired.map((r) => r.kid);
      if (kids.length > 0) await this.audit(trx, { kind: 'key.rotated', details: { kid: successor.kid, retired: kids } }, now);
      return kids;
    });
  }

  async revokeSigningKey(kid: string, now: number, audit: AuditInput): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx.updateTable('signing_keys').set({ revoked_at: now }).where('kid', '=', kid).where('revoked_at', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await this.audit(trx, { ...audit, details: { ...audit.details, kid } }, now);
      return true;
    });
  }

  async deleteExpiredSigningKeys(now: number): Promise<number> {
    const r = await this.db
      .deleteFrom('signing_keys')
      .where((eb) => eb.or([eb('revoked_at', 'is not', null), eb.and([eb('retired_at', 'is not', null), eb('expires_at', '<=', now)])]))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async replaceSigningKeyPrivate(kid: string, expected: string, next: string): Promise<boolean> {
    const r = await this.db
      .updateTable('signing_keys')
      .set({ private_jwk: next })
      .where('kid', '=', kid)
      .where('private_jwk', '=', expected)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async getOrCreateSecret(name: string, generate: () => string, now: number): Promise<string> {
    await this.db
      .insertInto('server_secrets')
      .values({ name, value: generate(), created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.db.selectFrom('server_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
    return row.value;
  }

  async replaceSecret(name: string, expected: string, next: string): Promise<boolean> {
    const r = await this.db.updateTable('server_secrets').set({ value: next }).where('name', '=', name).where('value', '=', expected).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async appendAudit(event: AuditInput, now: number): Promise<void> {
    await this.audit(this.db, event, now);
  }

  async listAudit(filter: { limit: number; userId?: string; kind?: AuditEvent['kind']; familyId?: string }): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(filter.limit);
    if (filter.userId) q = q.where('user_id', '=', filter.userId);
    if (filter.kind) q = q.where('kind', '=', filter.kind);
    if (filter.familyId) q = q.where('family_id', '=', filter.familyId);
    return (await q.execute()).map((r) => ({
      ...r,
      at: num(r.at),
      kind: r.kind as AuditEvent['kind'],
      details: JSON.parse(r.details) as Record<string, unknown>,
    }));
  }
}
