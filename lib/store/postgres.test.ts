import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { bodyOf, MINUTE, openTestEnv, SECOND, TestClock, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { runStoreConformance } from './conformance';
import { StoreUnavailableError } from './errors';
import { migrations } from './migrations';
import { MIGRATION_LOCK_KEY_SQL, openPostgresStore, storeErrorFromPostgres, type PostgresStore, type PostgresStoreOptions } from './postgres';

/**
 * Every test runs in a schema of its own (dropped afterwards) of the
 * database at KUBEGATE_TEST_POSTGRES_URL (default: the test machines' and
 * CI's server, trust auth, database `test`).
 */
const URL_ = process.env.KUBEGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const admin = new pg.Pool({ connectionString: URL_, max: 3, connectionTimeoutMillis: 3000 });
admin.on('error', () => {});
try {
  await admin.query('select 1');
} catch (err) {
  await admin.end();
  throw new Error(
    `PostgreSQL for the store tests is not reachable at ${URL_.replace(/:[^:@/]*@/, ':***@')} (${(err as Error).message}); ` +
      'start it or set KUBEGATE_TEST_POSTGRES_URL to a database where this user may create schemas',
  );
}

const schemas = new Set<string>();
afterAll(async () => {
  for (const s of schemas) await admin.query(`drop schema if exists ${s} cascade`);
  await admin.end();
});

async function freshSchema(): Promise<string> {
  const name = `kubegate_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`create schema ${name}`);
  schemas.add(name);
  return name;
}

async function dropSchema(name: string): Promise<void> {
  await admin.query(`drop schema if exists ${name} cascade`);
  schemas.delete(name);
}

const inSchema = (schema: string, o: PostgresStoreOptions = {}): Promise<PostgresStore> =>
  openPostgresStore(URL_, { poolSize: 4, ...o, options: `-c search_path=${schema}` });

/** A store in a fresh schema, dropped when the store closes. */
async function freshStore(o: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const schema = await freshSchema();
  const store = await inSchema(schema, o);
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await dropSchema(schema);
  };
  return store;
}

runStoreConformance(
  'postgres',
  () => freshStore(),
  async (n) => {
    // Several replicas: one schema, a pool each. The first opened drops the schema when it closes, after the others.
    const schema = await freshSchema();
    const stores = await Promise.all(Array.from({ length: n }, () => inSchema(schema)));
    let open = n;
    for (const s of stores) {
      const close = s.close.bind(s);
      s.close = async () => {
        await close();
        if (--open === 0) await dropSchema(schema);
      };
    }
    return stores;
  },
);

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
const T = Date.UTC(2031, 0, 1);

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('postgres store: several replicas', () => {
  it('rotates a token presented to two replicas at once exactly once: one successor, never two heads', async () => {
    const schema = await freshSchema();
    const [a, b] = await Promise.all([inSchema(schema), inSchema(schema)]);
    try {
      const user = await a.upsertUser({ upstream: 'local', subject: 's1', username: 'alice', groups: [] }, T);
      const session = await a.createLoginSession(
        { id: 'sess', user_id: user.id, upstream: 'local', amr: ['pwd'], auth_time: T, expires_at: T + 60 * MINUTE, client_ip: null, user_agent: null },
        T,
      );
      for (let i = 0; i < 20; i++) {
        const fam = await a.createFamily(
          { id: `fam-${i}`, login_session_id: session.id, user_id: user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: T + 60 * MINUTE, first_token_hash: hash(`t0-${i}`) },
          T,
          { kind: 'token.issued' },
        );
        // Different successors on purpose: a rotation that is not atomic would leave two heads.
        const results = await Promise.all(
          [a, b].map((s, n) =>
            s.rotateRefreshToken({ tokenHash: hash(`t0-${i}`), successorHash: hash(`t1-${i}-${n}`), familyId: fam.id, generation: 0 }, T + SECOND, { kind: 'token.refreshed' }),
          ),
        );
        expect(results.sort()).toEqual(['already_used', 'rotated']);
        const winner = results.indexOf('rotated');
        const heads = await Promise.all([0, 1].map((n) => b.findRefreshContext(hash(`t1-${i}-${n}`))));
        expect(heads.filter(Boolean)).toHaveLength(1);
        expect((await a.findRefreshContext(hash(`t0-${i}`)))?.token.used_at).toBe(T + SECOND);
        expect((await b.getFamily(fam.id))?.generation).toBe(1);
        expect(winner).toBeGreaterThanOrEqual(0);
      }
      const refreshed = await a.listAudit({ limit: 1000, kind: 'token.refreshed' });
      expect(refreshed).toHaveLength(20);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await dropSchema(schema);
    }
  });

  it('costs a refresh two round trips: the context read and the rotation, one prepared statement each, no BEGIN/COMMIT', async () => {
    const store = await freshStore();
    // Counted on the client: one pg query is one round trip.
    const sent: string[] = [];
    const original = pg.Client.prototype.query;
    const query = vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
      const q = args[0] as string | { name?: string; text: string };
      sent.push(typeof q === 'string' ? q : `[${q.name ?? ''}] ${q.text}`);
      return Reflect.apply(original, this, args) as never;
    });
    try {
      const user = await store.upsertUser({ upstream: 'local', subject: 's1', username: 'alice', groups: [] }, T);
      const session = await store.createLoginSession(
        { id: 'sess', user_id: user.id, upstream: 'local', amr: ['pwd'], auth_time: T, expires_at: T + 60 * MINUTE, client_ip: null, user_agent: null },
        T,
      );
      await store.createFamily(
        { id: 'fam', login_session_id: session.id, user_id: user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: T + 60 * MINUTE, first_token_hash: hash('rt0') },
        T,
        { kind: 'token.issued' },
      );
      for (let generation = 0; generation < 3; generation++) {
        sent.length = 0;
        const ctx = await store.findRefreshContext(hash(`rt${generation}`));
        expect(ctx?.token.generation).toBe(generation);
        const result = await store.rotateRefreshToken(
          { tokenHash: hash(`rt${generation}`), successorHash: hash(`rt${generation + 1}`), familyId: 'fam', generation },
          T + (generation + 1) * SECOND,
          { kind: 'token.refreshed', user_id: user.id },
        );
        expect(result).toBe('rotated');
        expect(sent).toHaveLength(2);
        expect(sent[0]).toMatch(/^\[kubegate_\d+\] select /);
        expect(sent[1]).toMatch(/^\[kubegate_\d+\] with "head" as \(update "families"/);
      }
      // A lost compare-and-set is one round trip too, and writes nothing.
      sent.length = 0;
      expect(await store.rotateRefreshToken({ tokenHash: hash('rt0'), successorHash: hash('other'), familyId: 'fam', generation: 0 }, T + MINUTE, { kind: 'token.refreshed' })).toBe(
        'already_used',
      );
      expect(sent).toHaveLength(1);
      expect(await store.listAudit({ limit: 10, kind: 'token.refreshed' })).toHaveLength(3);
    } finally {
      query.mockRestore();
      await store.close();
    }
  });

  it('does not rotate the head while another replica revokes the family: the rotation waits, then finds it revoked', async () => {
    const schema = await freshSchema();
    const store = await inSchema(schema);
    const revoker = await admin.connect();
    try {
      const user = await store.upsertUser({ upstream: 'local', subject: 's1', username: 'alice', groups: [] }, T);
      const session = await store.createLoginSession(
        { id: 'sess', user_id: user.id, upstream: 'local', amr: ['pwd'], auth_time: T, expires_at: T + 60 * MINUTE, client_ip: null, user_agent: null },
        T,
      );
      const fam = await store.createFamily(
        { id: 'fam', login_session_id: session.id, user_id: user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: T + 60 * MINUTE, first_token_hash: hash('h0') },
        T,
        { kind: 'token.issued' },
      );
      // The other replica's reuse detection, caught mid-transaction.
      await revoker.query('begin');
      await revoker.query(`update ${schema}.families set revoked_at = $1, revoke_reason = 'refresh_token_reuse' where id = $2`, [T + SECOND, fam.id]);
      let settled = false;
      const rotation = store
        .rotateRefreshToken({ tokenHash: hash('h0'), successorHash: hash('h1'), familyId: fam.id, generation: 0 }, T + SECOND, { kind: 'token.refreshed' })
        .finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      await revoker.query('commit');
      expect(await rotation).toBe('already_used');
      expect(await store.findRefreshContext(hash('h1'))).toBeUndefined();
      expect((await store.findRefreshContext(hash('h0')))?.token.used_at).toBeNull();
    } finally {
      revoker.release();
      await store.close();
      await dropSchema(schema);
    }
  });

  it('answers the same refresh at two replicas with the same successor, and revokes the family everywhere on reuse after the grace', async () => {
    const schema = await freshSchema();
    const clock = new TestClock();
    const envs: TestEnv[] = [];
    try {
      const one = await openTestEnv({ clock, store: await inSchema(schema) });
      envs.push(one);
      const two = await openTestEnv({ clock, store: await inSchema(schema) });
      envs.push(two);
      // Any replica serves any request: the same keys.
      expect((await one.store.listSigningKeys()).map((k) => k.kid)).toEqual((await two.store.listSigningKeys()).map((k) => k.kid));
      const minted = await one.mint();
      clock.advance(SECOND);
      const answers = await Promise.all([one.refresh(minted.refreshToken), two.refresh(minted.refreshToken)]);
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      const [r1, r2] = answers.map((r) => bodyOf<TokenSuccess>(r)) as [TokenSuccess, TokenSuccess];
      expect(r1.refresh_token).toBe(r2.refresh_token);
      const [family] = await two.store.listFamilies({ loginSessionId: minted.session.id });
      if (!family) throw new Error('no family');
      expect(family).toMatchObject({ generation: 1, revoked_at: null });
      expect(await one.store.listAudit({ limit: 100, kind: 'token.refreshed', familyId: family.id })).toHaveLength(1);
      expect(await one.store.listAudit({ limit: 100, kind: 'token.refresh_replayed', familyId: family.id })).toHaveLength(1);

      clock.advance(MINUTE);
      expect((await two.refresh(minted.refreshToken)).status).toBe(400);
      expect((await one.store.getFamily(family.id))?.revoke_reason).toBe('refresh_token_reuse');
      expect((await one.refresh(r1.refresh_token)).status).toBe(400);
    } finally {
      for (const env of envs) await env.close();
      await dropSchema(schema);
    }
  });

  it('migrates once when replicas start together', async () => {
    const schema = await freshSchema();
    const stores = await Promise.all([0, 1, 2].map(() => inSchema(schema)));
    try {
      const { rows } = await admin.query(`select name from ${schema}.kubegate_migrations order by name`);
      expect(rows.map((r: { name: string }) => r.name)).toEqual(Object.keys(migrations).sort());
      // And each works.
      for (const [i, s] of stores.entries()) await s.upsertUser({ upstream: 'local', subject: `s${i}`, username: `u${i}`, groups: [] }, T);
      expect(await stores[0]!.findUsersByUsername('u2')).toHaveLength(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(schema);
    }
  });

  it('waits for the migration lock another process holds, and migrates once it is released', async () => {
    const schema = await freshSchema();
    const holder = new pg.Client({ connectionString: URL_, options: `-c search_path=${schema}` });
    await holder.connect();
    try {
      await holder.query(`select pg_advisory_lock(${MIGRATION_LOCK_KEY_SQL})`);
      let opened: PostgresStore | undefined;
      const opening = inSchema(schema).then((s) => (opened = s));
      await new Promise((r) => setTimeout(r, 700));
      expect(opened).toBeUndefined();
      const { rows } = await admin.query('select count(*)::int as n from pg_tables where schemaname = $1', [schema]);
      expect(rows[0].n).toBe(0);
      await holder.query(`select pg_advisory_unlock(${MIGRATION_LOCK_KEY_SQL})`);
      const store = await opening;
      await store.ping();
      await store.close();
    } finally {
      await holder.end();
      await dropSchema(schema);
    }
  });
});

describe('postgres store: unavailable', () => {
  it('refuses at once with StoreUnavailableError when nothing listens', async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = await openPostgresStore(`postgres://postgres@127.0.0.1:${port}/test`, { connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ reason: 'unreachable' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('gives up on a statement past the statement timeout: StoreUnavailableError(timeout), then works again', async () => {
    const schema = await freshSchema();
    const store = await inSchema(schema, { statementTimeoutMs: 300 });
    const locker = await admin.connect();
    try {
      await locker.query('begin');
      await locker.query(`lock table ${schema}.families in access exclusive mode`);
      const started = Date.now();
      const err = await store.listFamilies({}).catch((e: unknown) => e);
      expect(err).toMatchObject({ reason: 'timeout' });
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(2000);
      await locker.query('rollback');
      expect(await store.listFamilies({})).toEqual([]);
    } finally {
      locker.release();
      await store.close();
      await dropSchema(schema);
    }
  });

  it('maps a terminated connection (57P01) to StoreUnavailableError and recovers on a new one', async () => {
    const schema = await freshSchema();
    const app = `kubegate_test_${randomBytes(4).toString('hex')}`;
    const warnings: string[] = [];
    const store = await inSchema(schema, { applicationName: app, warn: (m) => warnings.push(m) });
    const locker = await admin.connect();
    try {
      await locker.query('begin');
      await locker.query(`lock table ${schema}.families in access exclusive mode`);
      const waiting = store.listFamilies({}).catch((e: unknown) => e);
      await expect.poll(async () => (await admin.query("select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'", [app])).rows[0].n).toBe(1);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [app]);
      const err = await waiting;
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err).toMatchObject({ reason: 'unreachable' });
      await locker.query('rollback');
      expect(await store.listFamilies({})).toEqual([]);
    } finally {
      locker.release();
      await store.close();
      await dropSchema(schema);
    }
  });
});

describe('postgres store: connections lost while checked out', () => {
  // Regression: pg emits 'error' on a client whose server goes away, and the pool listens only on
  // idle clients; a connection lost while checked out (inside a transaction, between statements;
  // PostgreSQL restarted) was an uncaught exception that ended the process.
  it('survives a connection terminated while checked out, between statements, and recovers on a new one', async () => {
    const schema = await freshSchema();
    const app = `kubegate_test_${randomBytes(4).toString('hex')}`;
    const store = await inSchema(schema, { applicationName: app });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const db = (store as unknown as { db: Kysely<unknown> }).db;
      const err = await db
        .transaction()
        .execute(async (trx) => {
          await sql`select 1`.execute(trx);
          await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [app]);
          // The server has closed the socket while this transaction holds the connection, idle.
          await new Promise((r) => setTimeout(r, 300));
          await sql`select 1`.execute(trx);
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(uncaught).toEqual([]);
      expect(await store.listFamilies({})).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await store.close();
      await dropSchema(schema);
    }
  });
});

describe('storeErrorFromPostgres', () => {
  const pgError = (code: string, message = `server says ${code}`) => Object.assign(new Error(message), { code });
  it.each([
    ['57P01', 'unreachable'],
    ['57P03', 'unreachable'],
    ['08006', 'unreachable'],
    ['ECONNREFUSED', 'unreachable'],
    ['ECONNRESET', 'unreachable'],
    ['53300', 'busy'],
    ['40P01', 'busy'],
    ['55P03', 'busy'],
    ['57014', 'timeout'],
    ['53100', 'full'],
    ['25006', 'readonly'],
  ] as const)('maps %s to StoreUnavailableError(%s), keeping the cause', (code, reason) => {
    const cause = pgError(code);
    expect(storeErrorFromPostgres(cause)).toMatchObject({ reason, code: 'store_unavailable', cause });
  });

  it.each([
    ['Connection terminated unexpectedly', 'unreachable'],
    ['timeout exceeded when trying to connect', 'timeout'],
    ['Query read timeout', 'timeout'],
    ['Cannot use a pool after calling end on the pool', 'closed'],
  ] as const)('maps pg\'s "%s" to %s', (message, reason) => {
    expect(storeErrorFromPostgres(new Error(message))).toMatchObject({ reason });
  });

  it.each(['23505', '42P01', '22P02'])('leaves %s alone: not a passing condition', (code) => {
    const err = pgError(code);
    expect(storeErrorFromPostgres(err)).toBe(err);
  });
});
