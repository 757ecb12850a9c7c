import { randomUUID } from 'node:crypto';
import { timeOrderedId } from '../util/ids';
import { CompiledQuery, type Compilable, type Kysely, Migrator, type QueryCreator, type Transaction } from 'kysely';
import { migrationProvider } from './migrations';
import type {
  AuditEvent,
  AuditFilter,
  AuditInput,
  Family,
  LoginSession,
  MfaFactor,
  NewFamily,
  PruneCounts,
  PruneOptions,
  RecheckRecord,
  RefreshContext,
  RestoreCounts,
  RevokeReason,
  RotateResult,
  SigningKeyNeed,
  SigningKeyRow,
  Store,
  User,
  UserProfile,
} from './types';
import type { GroupedWrite, WriteStep } from './write-engine';

/** Row shapes as the database holds them (JSON lists as text; PostgreSQL may hand bigints back as strings). */
type Num = number | string;
interface UsersTable {
  id: string; upstream: string; subject: string; username: string; email: string | null; name: string | null;
  groups: string; created_at: Num; updated_at: Num;
  /** Sealed with the KEK by the caller (lib/upstream/recheck.ts); never part of a User. */
  recheck_state: string | null; checked_at: Num | null; check_failing_since: Num | null;
}
/** Every users column but the sealed re-check state. */
const USER_COLUMNS = ['id', 'upstream', 'subject', 'username', 'email', 'name', 'groups', 'created_at', 'updated_at', 'checked_at', 'check_failing_since'] as const;
type UserRow = Omit<UsersTable, 'recheck_state'>;
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
interface MfaFactorsTable {
  id: string; user_id: string; kind: string; name: string; data: string; credential_id: string | null; created_at: Num;
  confirmed_at: Num | null; last_used_at: Num | null; counter: Num | null;
}
interface RecoveryCodesTable { user_id: string; hash: string; created_at: Num; used_at: Num | null }
interface EphemeralTable { ns: string; key: string; value: string; expires_at: Num }
interface ServerSecretsTable { name: string; value: string; created_at: Num }
export interface AuditEventsTable {
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
  ephemeral: EphemeralTable;
  mfa_factors: MfaFactorsTable;
  recovery_codes: RecoveryCodesTable;
}

function toFactor(r: MfaFactorsTable): MfaFactor {
  return {
    ...r,
    kind: r.kind as MfaFactor['kind'],
    created_at: num(r.created_at),
    confirmed_at: numOrNull(r.confirmed_at),
    last_used_at: numOrNull(r.last_used_at),
    counter: numOrNull(r.counter),
  };
}

const num = (v: Num): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: Num | null): number | null => (v === null ? null : num(v));

function toUser(r: UserRow): User {
  return {
    id: r.id,
    upstream: r.upstream,
    subject: r.subject,
    username: r.username,
    email: r.email,
    name: r.name,
    groups: JSON.parse(r.groups) as string[],
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
    checked_at: numOrNull(r.checked_at),
    check_failing_since: numOrNull(r.check_failing_since),
  };
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
      'u.created_at as u_created_at', 'u.updated_at as u_updated_at', 'u.checked_at', 'u.check_failing_since',
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
      groups: r.groups, created_at: r.u_created_at, updated_at: r.u_updated_at, checked_at: r.checked_at,
      check_failing_since: r.check_failing_since,
    }),
  };
}

/**
 * Told of each audit event once the transaction that wrote it committed
 * (never of one rolled back or not applied); lib/store/audit-stdout.ts
 * prints them. Called synchronously: a listener must be quick and not throw.
 */
export type AuditListener = (event: AuditEvent) => void;

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

const SLOT = '\u0000kubegate-parameter:';

/**
 * A Kysely query compiled once, whose named parameters are filled in per
 * call. Compiling costs a few microseconds a statement; the token endpoint's
 * rotation would pay it four times per refresh. The builder receives
 * placeholders (typed `never`, so they fit any column); every parameter of
 * the compiled query is either one of them or a constant of the builder.
 */
export function compiledTemplate<K extends string>(
  keys: readonly K[],
  build: (p: Record<K, never>) => Compilable,
): (values: Record<K, unknown>) => WriteStep {
  const placeholders = Object.fromEntries(keys.map((k) => [k, SLOT + k])) as Record<K, never>;
  const { sql, parameters } = build(placeholders).compile();
  const slots: Array<{ key: K } | { value: unknown }> = parameters.map((v) =>
    typeof v === 'string' && v.startsWith(SLOT) ? { key: v.slice(SLOT.length) as K } : { value: v },
  );
  return (values) => ({ sql, parameters: slots.map((s) => ('key' in s ? values[s.key] : s.value)) });
}

/**
 * The rotation's compare-and-set: the family's head moves from `from` to
 * `generation` only while the family is live. One builder for every
 * rotation statement (the grouped write below, PostgreSQL's single statement
 * in postgres.ts).
 */
export function advanceFamilyQuery(db: QueryCreator<Database>, p: { now: number; generation: number; id: string; from: number }) {
  return db
    .updateTable('families')
    .set({ last_used_at: p.now, generation: p.generation })
    .where('id', '=', p.id)
    .where('generation', '=', p.from)
    .where('revoked_at', 'is', null);
}

export const AUDIT_COLUMNS = ['id', 'at', 'kind', 'user_id', 'username', 'cluster', 'family_id', 'session_id', 'client_ip', 'request_id', 'details'] as const;

/** What a rotation needs: the presented token, its successor, the family and the token's generation. */
export interface RotationInput {
  tokenHash: string;
  successorHash: string;
  familyId: string;
  generation: number;
}

/** The compiled statements of the grouped writes (one copy of each, for every backend). */
function writeStatements(db: Kysely<Database>) {
  return {
    audit: compiledTemplate(AUDIT_COLUMNS, (p) => db.insertInto('audit_events').values(p)),
    markTokenUsed: compiledTemplate(['now', 'hash'], (p) =>
      db.updateTable('refresh_tokens').set({ used_at: p.now }).where('hash', '=', p.hash).where('used_at', 'is', null),
    ),
    insertToken: compiledTemplate(['hash', 'family_id', 'generation', 'created_at'], (p) =>
      db.insertInto('refresh_tokens').values({ ...p, used_at: null }),
    ),
    advanceFamily: compiledTemplate(['now', 'generation', 'id', 'from'], (p) => advanceFamilyQuery(db, p)),
    revokeFamily: compiledTemplate(['now', 'reason', 'id'], (p) =>
      db.updateTable('families').set({ revoked_at: p.now, revoke_reason: p.reason }).where('id', '=', p.id).where('revoked_at', 'is', null),
    ),
    insertFamily: compiledTemplate(
      ['id', 'login_session_id', 'user_id', 'cluster', 'client_id', 'origin', 'created_at', 'last_used_at', 'expires_at', 'generation', 'revoked_at', 'revoke_reason'],
      (p) => db.insertInto('families').values(p),
    ),
    insertSession: compiledTemplate(
      ['id', 'user_id', 'upstream', 'amr', 'auth_time', 'created_at', 'expires_at', 'revoked_at', 'revoke_reason', 'client_ip', 'user_agent', 'last_seen_at'],
      (p) => db.insertInto('login_sessions').values(p),
    ),
    touchSession: compiledTemplate(['now', 'id'], (p) => db.updateTable('login_sessions').set({ last_seen_at: p.now }).where('id', '=', p.id)),
    insertProbe: compiledTemplate(['name', 'value'], (p) => db.insertInto('kubegate_meta').values(p)),
    deleteProbe: compiledTemplate(['name'], (p) => db.deleteFrom('kubegate_meta').where('name', '=', p.name)),
  };
}

/** Bigger than a database page, so proving a write also proves the database can still grow. */
const PROBE_VALUE = 'x'.repeat(8192);

/** Families revoked with a clock this far behind the pruner's are still found by the next pass. */
const PRUNE_SLACK_MS = 60 * 60_000;

/**
 * The Store on Kysely: the same queries serve SQLite and PostgreSQL; a
 * backend only supplies the dialect (sqlite.ts today) and, if it can do
 * better than one transaction each, how grouped writes are applied.
 */
export class KyselyStore implements Store {
  protected readonly statements;

  /**
   * `longDb`: the same database for the rare big writes (migrations, the
   * restore reset), where a backend bounds each write's wait: a longer bound.
   */
  constructor(
    protected readonly db: Kysely<Database>,
    private readonly onClose?: () => Promise<void>,
    protected readonly longDb: Kysely<Database> = db,
  ) {
    this.statements = writeStatements(db);
  }

  /**
   * Applies a grouped write atomically; false when its guard changed no row.
   * Here: one transaction each. SqliteStore group-commits them on the writer thread.
   */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  protected async applyWrite(write: GroupedWrite, budgetMs?: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      for (const [i, step] of write.steps.entries()) {
        const r = await trx.executeQuery(CompiledQuery.raw(step.sql, [...step.parameters]));
        if (i === 0 && write.guard && Number(r.numAffectedRows ?? 0) === 0) return false;
      }
      return true;
    });
  }

  /**
   * `schema`: where the migration tables live, when the database has schemas
   * (PostgreSQL: the current one). Named, because Kysely's Migrator otherwise
   * looks for its tables in EVERY schema: a second Kubegate schema in the same
   * database (a test's, another install's) made it skip creating its own.
   */
  async migrate(schema?: string): Promise<void> {
    const migrator = new Migrator({
      db: this.longDb,
      provider: migrationProvider,
      migrationTableName: 'kubegate_migrations',
      migrationLockTableName: 'kubegate_migrations_lock',
      ...(schema ? { migrationTableSchema: schema } : {}),
    });
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

  /** `budgetMs`: how long the probe may wait for the database (a backend's own bound when absent). */
  async probeWrite(now: number, budgetMs?: number): Promise<void> {
    // Inserted and deleted in one transaction: nothing stays, but the write needed room to grow.
    const name = `write_probe:${now}:${randomUUID()}`;
    await this.applyWrite(
      { guard: false, steps: [this.statements.insertProbe({ name, value: PROBE_VALUE }), this.statements.deleteProbe({ name })] },
      budgetMs,
    );
  }

  private auditListener: AuditListener | undefined;
  /** The audit rows each open transaction wrote (transact()), told to the listener after its commit. */
  private readonly pendingAudit = new WeakMap<Transaction<Database>, AuditEventsTable[]>();

  /** Every audit event committed from now on is also told to `listener` (replacing any earlier one). */
  setAuditListener(listener: AuditListener | undefined): void {
    this.auditListener = listener;
  }

  private committed(rows: readonly AuditEventsTable[]): void {
    const listener = this.auditListener;
    if (!listener) return;
    for (const r of rows) {
      try {
        listener({ ...r, at: Number(r.at), kind: r.kind as AuditEvent['kind'], details: JSON.parse(r.details) as Record<string, unknown> });
      } catch {
        // The event is committed and in the database; a failing listener must not turn that into an error.
      }
    }
  }

  /** A grouped write carrying audit rows: they are told once it committed and applied (a failed guard wrote none). */
  private async applyAudited(write: GroupedWrite, rows: readonly AuditEventsTable[]): Promise<boolean> {
    const applied = await this.applyWrite(write);
    if (applied) this.committed(rows);
    return applied;
  }

  /**
   * A transaction whose audit rows (written with this.audit) are told to the
   * listener after its commit: nothing is told of one that rolled back.
   */
  protected async transact<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const rows: AuditEventsTable[] = [];
    const result = await db.transaction().execute((trx) => {
      this.pendingAudit.set(trx, rows);
      return fn(trx);
    });
    this.committed(rows);
    return result;
  }

  private audit(trx: Transaction<Database>, e: AuditInput, now: number) {
    const row = auditRow(e, now);
    const pending = this.pendingAudit.get(trx);
    if (!pending) throw new Error('audit rows are written only inside transact()');
    pending.push(row);
    return trx.insertInto('audit_events').values(row).execute();
  }

  async upsertUser(p: UserProfile, now: number, opts: { recheckState?: string | null } = {}): Promise<User> {
    // One statement: the id and created_at of an existing row are kept. A sign-in is a fresh look upstream.
    const profile = {
      username: p.username,
      email: p.email ?? null,
      name: p.name ?? null,
      groups: JSON.stringify(p.groups),
      checked_at: now,
      check_failing_since: null,
      ...(opts.recheckState !== undefined ? { recheck_state: opts.recheckState } : {}),
    };
    const row = await this.db
      .insertInto('users')
      .values({ id: randomUUID(), upstream: p.upstream, subject: p.subject, recheck_state: null, ...profile, created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['upstream', 'subject']).doUpdateSet({ ...profile, updated_at: now }))
      .returning(USER_COLUMNS)
      .executeTakeFirstOrThrow();
    return toUser(row);
  }

  async findUsersByUsername(username: string): Promise<User[]> {
    return (await this.db.selectFrom('users').selectAll().where('username', '=', username).orderBy('created_at').execute()).map(toUser);
  }

  async getUser(id: string): Promise<User | undefined> {
    const r = await this.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
    return r && toUser(r);
  }

  async recordRecheck(userId: string, result: RecheckRecord, now: number, audit: AuditInput): Promise<User | undefined> {
    const update = this.db.updateTable('users').where('id', '=', userId);
    let step: Compilable;
    switch (result.status) {
      case 'active': {
        const p = result.profile;
        step = update.set({
          username: p.username,
          email: p.email ?? null,
          name: p.name ?? null,
          groups: JSON.stringify(p.groups),
          updated_at: now,
          checked_at: now,
          check_failing_since: null,
          ...(result.recheckState !== undefined ? { recheck_state: result.recheckState } : {}),
        });
        break;
      }
      case 'checked':
        step = update.set({ checked_at: now, check_failing_since: null });
        break;
      case 'unavailable':
        // The first failure is kept: the grace counts from when the upstream stopped answering.
        step = update.set((eb) => ({ check_failing_since: eb.fn.coalesce('check_failing_since', eb.val(now)) }));
        break;
    }
    // Rare (once per interval per person), so compiled per call; still one grouped write with its audit row.
    const compiled = step.compile();
    const event = auditRow({ ...audit, user_id: userId }, now);
    await this.applyAudited({ guard: true, steps: [{ sql: compiled.sql, parameters: compiled.parameters }, this.statements.audit(event)] }, [event]);
    return this.getUser(userId);
  }

  async getRecheckState(userId: string): Promise<string | null> {
    const r = await this.db.selectFrom('users').select('recheck_state').where('id', '=', userId).executeTakeFirst();
    return r?.recheck_state ?? null;
  }

  async createLoginSession(
    s: Omit<LoginSession, 'created_at' | 'revoked_at' | 'revoke_reason' | 'last_seen_at'>,
    now: number,
  ): Promise<LoginSession> {
    const row: LoginSessionsTable = {
      id: s.id, user_id: s.user_id, upstream: s.upstream, amr: JSON.stringify(s.amr), auth_time: s.auth_time, created_at: now,
      expires_at: s.expires_at, revoked_at: null, revoke_reason: null, client_ip: s.client_ip, user_agent: s.user_agent, last_seen_at: now,
    };
    await this.applyWrite({ guard: false, steps: [this.statements.insertSession(row)] });
    return toSession(row);
  }

  async getLoginSession(id: string): Promise<{ session: LoginSession; user: User } | undefined> {
    const s = await this.db.selectFrom('login_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!s) return undefined;
    const u = await this.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', s.user_id).executeTakeFirst();
    return u && { session: toSession(s), user: toUser(u) };
  }

  async touchLoginSession(id: string, now: number): Promise<void> {
    await this.applyWrite({ guard: false, steps: [this.statements.touchSession({ now, id })] });
  }

  async listLoginSessions(filter: { userId?: string; activeAt?: number }): Promise<LoginSession[]> {
    let q = this.db.selectFrom('login_sessions').selectAll().orderBy('created_at', 'desc');
    if (filter.userId) q = q.where('user_id', '=', filter.userId);
    if (filter.activeAt !== undefined) q = q.where('revoked_at', 'is', null).where('expires_at', '>', filter.activeAt);
    return (await q.execute()).map(toSession);
  }

  async revokeLoginSession(id: string, reason: RevokeReason, now: number, audit: AuditInput): Promise<boolean> {
    return this.transact(this.db, async (trx) => {
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
    const w = this.statements;
    const event = auditRow({ ...audit, family_id: f.id, session_id: f.login_session_id, cluster: f.cluster, user_id: f.user_id }, now);
    await this.applyAudited(
      { guard: false, steps: [w.insertFamily(row), w.insertToken({ hash: f.first_token_hash, family_id: f.id, generation: 0, created_at: now }), w.audit(event)] },
      [event],
    );
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

  async countActiveFamilies(now: number, usedSince: number): Promise<number> {
    const r = await this.db
      .selectFrom('families')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .where('last_used_at', '>=', usedSince)
      .executeTakeFirstOrThrow();
    // SQLite answers a number, PostgreSQL's count(*) a bigint (as a string).
    return Number(r.n);
  }

  async findRefreshContext(tokenHash: string): Promise<RefreshContext | undefined> {
    const row = await refreshContextQuery(this.db, tokenHash).executeTakeFirst();
    return row && toRefreshContext(row);
  }

  async rotateRefreshToken(
    r: RotationInput,
    now: number,
    audit: AuditInput,
  ): Promise<RotateResult> {
    const event = auditRow({ ...audit, family_id: r.familyId }, now);
    const rotated = await this.applyAudited(this.rotationWrite(r, now, event), [event]);
    return rotated ? 'rotated' : 'already_used';
  }

  /**
   * The rotation as one grouped write, applied atomically; not applied when
   * the compare-and-set changed no row. Here (and on SQLite's writer thread)
   * four statements, the guard first: the compare-and-set on the family row
   * (only the head of a live family rotates; the head is the family's one
   * unused token; a family revoked after the caller read it, by reuse
   * detected at another request or replica, is refused here too, as
   * `already_used`, and the caller reads again and finds it revoked), the
   * token marked used, the successor, the audit row. PostgresStore makes it
   * one statement (postgres.ts): the round trips are its cost there.
   */
  protected rotationWrite(r: RotationInput, now: number, event: AuditEventsTable): GroupedWrite {
    const w = this.statements;
    return {
      guard: true,
      steps: [
        w.advanceFamily({ now, generation: r.generation + 1, id: r.familyId, from: r.generation }),
        w.markTokenUsed({ now, hash: r.tokenHash }),
        w.insertToken({ hash: r.successorHash, family_id: r.familyId, generation: r.generation + 1, created_at: now }),
        w.audit(event),
      ],
    };
  }

  async revokeFamily(id: string, reason: RevokeReason, now: number, audit: AuditInput): Promise<boolean> {
    const w = this.statements;
    const event = auditRow({ ...audit, family_id: id, details: { ...audit.details, reason } }, now);
    return this.applyAudited({ guard: true, steps: [w.revokeFamily({ now, reason, id }), w.audit(event)] }, [event]);
  }

  async listSigningKeys(): Promise<SigningKeyRow[]> {
    return (await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid').execute()).map(toKey);
  }

  async activateSigningKey(next: SigningKeyRow, retireExpiresAt: number, now: number): Promise<void> {
    await this.transact(this.db, (trx) => this.activateIn(trx, next, retireExpiresAt, now));
  }

  private async activateIn(trx: Transaction<Database>, next: SigningKeyRow, retireExpiresAt: number, now: number): Promise<void> {
    const retired = await trx
      .updateTable('signing_keys')
      .set({ retired_at: now, expires_at: retireExpiresAt })
      .where('retired_at', 'is', null)
      .where('revoked_at', 'is', null)
      .returning('kid')
      .execute();
    await trx.insertInto('signing_keys').values(next).execute();
    await this.audit(trx, { kind: 'key.created', details: { kid: next.kid, alg: next.alg, retired: retired.map((r) => r.kid) } }, now);
  }

  async scheduleSigningKey(next: SigningKeyRow, now: number): Promise<void> {
    await this.transact(this.db, (trx) => this.publishIn(trx, next, now));
  }

  private async publishIn(trx: Transaction<Database>, next: SigningKeyRow, now: number): Promise<void> {
    await trx.insertInto('signing_keys').values(next).execute();
    await this.audit(trx, { kind: 'key.published', details: { kid: next.kid, alg: next.alg, activates_at: next.activates_at } }, now);
  }

  /**
   * Makes the key schedule's check-then-write one step among every process
   * of the database, for the rest of `trx`. Nothing to do here: SQLite runs
   * one write transaction at a time (BEGIN IMMEDIATE on the writer, whose
   * reads see every commit before it); PostgresStore takes an advisory lock.
   */
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  protected async lockSigningKeys(trx: Transaction<Database>): Promise<void> {}

  async addSigningKeyIfNeeded(next: SigningKeyRow, now: number, need: SigningKeyNeed): Promise<boolean> {
    return this.transact(this.db, async (trx) => {
      await this.lockSigningKeys(trx);
      // Rows written before activates_at existed sign from their creation (as toKey reads them).
      let q = trx
        .selectFrom('signing_keys')
        .select('kid')
        .where('revoked_at', 'is', null);
      q =
        need.kind === 'first'
          ? // A key that signs at `now` (activated, not retired by then), or one another process made to
            // sign at once: its activation may be a little after `now` when that process's clock is
            // ahead, or when `now` was read before it committed.
            q
              .where((eb) =>
                eb.or([
                  eb(eb.fn.coalesce('activates_at', 'created_at'), '<=', now),
                  eb(eb.fn.coalesce('activates_at', 'created_at'), '<=', eb.ref('created_at')),
                ]),
              )
              .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', now)]))
          : // A key of this algorithm that will sign after `now` (not retired before it activates).
            q
              .where('alg', '=', next.alg)
              .where((eb) => eb(eb.fn.coalesce('activates_at', 'created_at'), '>', now))
              .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', eb.fn.coalesce('activates_at', 'created_at'))]));
      if ((await q.limit(1).execute()).length > 0) return false;
      if (need.kind === 'first') await this.activateIn(trx, next, need.retireExpiresAt, now);
      else await this.publishIn(trx, next, now);
      return true;
    });
  }

  async retireSigningKeysBefore(successor: { kid: string; activates_at: number }, expiresAt: number, now: number): Promise<string[]> {
    return this.transact(this.db, async (trx) => {
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

  async revokeSigningKey(kid: string, now: number, audit: AuditInput, replacement?: { next: SigningKeyRow; retireExpiresAt: number }): Promise<boolean> {
    return this.transact(this.db, async (trx) => {
      const r = await trx.updateTable('signing_keys').set({ revoked_at: now }).where('kid', '=', kid).where('revoked_at', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await this.audit(trx, { ...audit, details: { ...audit.details, kid } }, now);
      // In the same transaction: no process's key sync can ever see the store without a signing key and make its own.
      if (replacement) await this.activateIn(trx, replacement.next, replacement.retireExpiresAt, now);
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

  async putEphemeral(ns: string, key: string, value: string, expiresAt: number, now: number): Promise<boolean> {
    // One statement: insert, or take over a record that has expired; a live one is left alone.
    const r = await this.db
      .insertInto('ephemeral')
      .values({ ns, key, value, expires_at: expiresAt })
      .onConflict((oc) =>
        oc
          .columns(['ns', 'key'])
          .doUpdateSet({ value, expires_at: expiresAt })
          .where('ephemeral.expires_at', '<=', now),
      )
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async getEphemeral(ns: string, key: string, now: number): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('ephemeral')
      .select('value')
      .where('ns', '=', ns)
      .where('key', '=', key)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row?.value;
  }

  async takeEphemeral(ns: string, key: string, now: number): Promise<string | undefined> {
    const row = await this.db
      .deleteFrom('ephemeral')
      .where('ns', '=', ns)
      .where('key', '=', key)
      .where('expires_at', '>', now)
      .returning('value')
      .executeTakeFirst();
    return row?.value;
  }

  async replaceEphemeral(ns: string, key: string, expected: string, next: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('ephemeral')
      .set({ value: next })
      .where('ns', '=', ns)
      .where('key', '=', key)
      .where('value', '=', expected)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async listEphemeral(ns: string, now: number): Promise<Array<{ key: string; value: string; expires_at: number }>> {
    const rows = await this.db
      .selectFrom('ephemeral')
      .select(['key', 'value', 'expires_at'])
      .where('ns', '=', ns)
      .where('expires_at', '>', now)
      .orderBy('expires_at')
      .orderBy('key')
      .execute();
    return rows.map((r) => ({ key: r.key, value: r.value, expires_at: num(r.expires_at) }));
  }

  async deleteEphemeralNamespace(ns: string): Promise<number> {
    const r = await this.db.deleteFrom('ephemeral').where('ns', '=', ns).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async listMfaFactors(userId: string): Promise<MfaFactor[]> {
    return (await this.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).orderBy('created_at').execute()).map(toFactor);
  }

  async getMfaFactorByCredentialId(credentialId: string): Promise<MfaFactor | undefined> {
    const r = await this.db.selectFrom('mfa_factors').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
    return r && toFactor(r);
  }

  async addMfaFactor(
    f: Pick<MfaFactor, 'id' | 'user_id' | 'kind' | 'name' | 'data' | 'credential_id'> & { confirmed: boolean; counter?: number | null },
    now: number,
    audit?: AuditInput,
  ): Promise<MfaFactor> {
    const row: MfaFactorsTable = {
      id: f.id,
      user_id: f.user_id,
      kind: f.kind,
      name: f.name,
      data: f.data,
      credential_id: f.credential_id,
      created_at: now,
      confirmed_at: f.confirmed ? now : null,
      last_used_at: null,
      counter: f.counter ?? null,
    };
    await this.transact(this.db, async (trx) => {
      await trx.insertInto('mfa_factors').values(row).execute();
      if (audit) await this.audit(trx, audit, now);
    });
    return toFactor(row);
  }

  async confirmMfaFactor(userId: string, id: string, counter: number, now: number, audit: AuditInput): Promise<boolean> {
    return this.transact(this.db, async (trx) => {
      const r = await trx
        .updateTable('mfa_factors')
        .set({ confirmed_at: now, last_used_at: now, counter })
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await this.audit(trx, audit, now);
      return true;
    });
  }

  async removeMfaFactor(userId: string, id: string, now: number, audit: AuditInput): Promise<boolean> {
    return this.transact(this.db, async (trx) => {
      const r = await trx.deleteFrom('mfa_factors').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      if (Number(r.numDeletedRows) !== 1) return false;
      await this.audit(trx, audit, now);
      return true;
    });
  }

  async advanceMfaCounter(id: string, counter: number, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('mfa_factors')
      .set({ counter, last_used_at: now })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('counter', 'is', null), eb('counter', '<', counter)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async touchMfaFactor(id: string, now: number): Promise<void> {
    await this.db.updateTable('mfa_factors').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  async replaceRecoveryCodes(userId: string, hashes: string[], now: number, audit: AuditInput): Promise<void> {
    await this.transact(this.db, async (trx) => {
      await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      if (hashes.length > 0) {
        await trx
          .insertInto('recovery_codes')
          .values(hashes.map((hash) => ({ user_id: userId, hash, created_at: now, used_at: null })))
          .execute();
      }
      await this.audit(trx, audit, now);
    });
  }

  async useRecoveryCode(userId: string, hash: string, now: number, audit: AuditInput): Promise<boolean> {
    return this.transact(this.db, async (trx) => {
      const r = await trx
        .updateTable('recovery_codes')
        .set({ used_at: now })
        .where('user_id', '=', userId)
        .where('hash', '=', hash)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await this.audit(trx, audit, now);
      return true;
    });
  }

  async countRecoveryCodes(userId: string): Promise<{ total: number; unused: number }> {
    const rows = await this.db.selectFrom('recovery_codes').select(['used_at']).where('user_id', '=', userId).execute();
    return { total: rows.length, unused: rows.filter((r) => r.used_at === null).length };
  }

  async resetMfa(userId: string, now: number, audit: AuditInput): Promise<{ factors: number; recovery_codes: number }> {
    return this.transact(this.db, async (trx) => {
      const factors = Number((await trx.deleteFrom('mfa_factors').where('user_id', '=', userId).executeTakeFirst()).numDeletedRows);
      const codes = Number((await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).executeTakeFirst()).numDeletedRows);
      await this.audit(trx, { ...audit, user_id: userId, details: { ...audit.details, factors, recovery_codes: codes } }, now);
      return { factors, recovery_codes: codes };
    });
  }

  async elevateLoginSession(id: string, amr: string[], now: number, audit: AuditInput): Promise<boolean> {
    return this.transact(this.db, async (trx) => {
      const r = await trx
        .updateTable('login_sessions')
        .set({ amr: JSON.stringify(amr) })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await this.audit(trx, { ...audit, session_id: id }, now);
      return true;
    });
  }

  async appendAudit(event: AuditInput, now: number): Promise<void> {
    const row = auditRow(event, now);
    await this.applyAudited({ guard: false, steps: [this.statements.audit(row)] }, [row]);
  }

  async listAudit(filter: AuditFilter): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(filter.limit);
    if (filter.userId) q = q.where('user_id', '=', filter.userId);
    if (filter.kind) q = q.where('kind', '=', filter.kind);
    if (filter.familyId) q = q.where('family_id', '=', filter.familyId);
    if (filter.username) q = q.where('username', '=', filter.username);
    if (filter.cluster) q = q.where('cluster', '=', filter.cluster);
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    if (filter.until !== undefined) q = q.where('at', '<', filter.until);
    if (filter.before) q = q.where('id', '<', filter.before);
    return (await q.execute()).map((r) => ({
      ...r,
      at: num(r.at),
      kind: r.kind as AuditEvent['kind'],
      details: JSON.parse(r.details) as Record<string, unknown>,
    }));
  }

  async markRestored(now: number, details: Record<string, unknown>): Promise<RestoreCounts> {
    return this.transact(this.longDb, (trx) => this.revokeEverything(trx, now, details));
  }

  /**
   * After a restore nothing issued before it may work: every sign-in and
   * credential is revoked ('restored') and every signing key withdrawn, with
   * one `store.restored` audit event. Runs inside the caller's transaction.
   */
  protected async revokeEverything(trx: Transaction<Database>, now: number, details: Record<string, unknown>): Promise<RestoreCounts> {
    const reason: RevokeReason = 'restored';
    const sessions = await trx.updateTable('login_sessions').set({ revoked_at: now, revoke_reason: reason }).where('revoked_at', 'is', null).executeTakeFirst();
    const families = await trx.updateTable('families').set({ revoked_at: now, revoke_reason: reason }).where('revoked_at', 'is', null).executeTakeFirst();
    const keys = await trx.updateTable('signing_keys').set({ revoked_at: now }).where('revoked_at', 'is', null).executeTakeFirst();
    const counts: RestoreCounts = {
      sessions_revoked: Number(sessions.numUpdatedRows),
      families_revoked: Number(families.numUpdatedRows),
      keys_withdrawn: Number(keys.numUpdatedRows),
    };
    await this.audit(trx, { kind: 'store.restored', details: { ...details, ...counts } }, now);
    return counts;
  }

  async prune(o: PruneOptions): Promise<PruneCounts> {
    return {
      tokens: await this.pruneEndedFamilyTokens(o),
      families: await this.pruneOldFamilies(o),
      sessions: await this.pruneOldSessions(o),
      audit: await this.pruneOldAudit(o),
      ephemeral: await this.pruneExpiredEphemeral(o),
    };
  }

  /**
   * Refresh tokens of families that ended (revoked or past expires_at) since
   * the last complete pass: they can never work again. A live family keeps
   * its spent tokens: presenting one after the grace window is what detects
   * reuse (and revokes the family), up to the family's absolute end.
   */
  private async pruneEndedFamilyTokens(o: PruneOptions): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const through = await trx.selectFrom('kubegate_meta').select('value').where('name', '=', 'prune_tokens_through').executeTakeFirst();
      const since = through ? Number(through.value) - PRUNE_SLACK_MS : Number.MIN_SAFE_INTEGER;
      const ended = trx
        .selectFrom('families')
        .select('id')
        .where((eb) =>
          eb.or([
            eb.and([eb('revoked_at', '>', since), eb('revoked_at', '<=', o.now)]),
            eb.and([eb('expires_at', '>', since), eb('expires_at', '<=', o.now)]),
          ]),
        );
      const r = await trx
        .deleteFrom('refresh_tokens')
        .where('hash', 'in', trx.selectFrom('refresh_tokens').select('hash').where('family_id', 'in', ended).limit(o.limit))
        .executeTakeFirst();
      const deleted = Number(r.numDeletedRows);
      if (deleted < o.limit) {
        await trx
          .insertInto('kubegate_meta')
          .values({ name: 'prune_tokens_through', value: String(o.now) })
          .onConflict((oc) => oc.column('name').doUpdateSet({ value: String(o.now) }))
          .execute();
      }
      return deleted;
    });
  }

  /** Families that ended before the retention cutoff, with whatever tokens they still had. */
  private async pruneOldFamilies(o: PruneOptions): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const ids = (
        await trx
          .selectFrom('families')
          .select('id')
          .where((eb) => eb.or([eb('revoked_at', '<', o.retainAfter), eb('expires_at', '<', o.retainAfter)]))
          .limit(o.limit)
          .execute()
      ).map((r) => r.id);
      if (ids.length === 0) return 0;
      await trx.deleteFrom('refresh_tokens').where('family_id', 'in', ids).execute();
      return Number((await trx.deleteFrom('families').where('id', 'in', ids).executeTakeFirst()).numDeletedRows);
    });
  }

  /** Sign-ins that ended before the retention cutoff and have no credential left. */
  private async pruneOldSessions(o: PruneOptions): Promise<number> {
    const r = await this.db
      .deleteFrom('login_sessions')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('login_sessions as s')
          .select('s.id')
          .where((w) => w.or([w('s.revoked_at', '<', o.retainAfter), w('s.expires_at', '<', o.retainAfter)]))
          .where((w) => w.not(w.exists(w.selectFrom('families as f').select('f.id').whereRef('f.login_session_id', '=', 's.id'))))
          .limit(o.limit),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  private async pruneExpiredEphemeral(o: PruneOptions): Promise<number> {
    const r = await this.db
      .deleteFrom('ephemeral')
      .where('key', 'in', (eb) => eb.selectFrom('ephemeral').select('key').where('expires_at', '<=', o.now).limit(o.limit))
      .where('expires_at', '<=', o.now)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  private async pruneOldAudit(o: PruneOptions): Promise<number> {
    const r = await this.db
      .deleteFrom('audit_events')
      .where('id', 'in', (eb) => eb.selectFrom('audit_events').select('id').where('at', '<', o.retainAfter).orderBy('at').limit(o.limit))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
