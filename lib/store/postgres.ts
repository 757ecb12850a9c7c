import fs from 'node:fs';
import { CompiledQuery, Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient, type Transaction } from 'kysely';
import pg from 'pg';
import { storeUnavailable, StoreUnavailableError } from './errors';
import {
  advanceFamilyQuery,
  AUDIT_COLUMNS,
  compiledTemplate,
  KyselyStore,
  refreshContextQuery,
  type AuditEventsTable,
  type AuditListener,
  type Database as Schema,
  type RefreshContextRow,
  type RotationInput,
  toRefreshContext,
} from './kysely-store';
import type { RefreshContext } from './types';
import type { GroupedWrite } from './write-engine';

/** Defaults of `storage.postgres` (lib/config/schema.ts), in ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5000;
export const DEFAULT_POOL_SIZE = 10;

/** Migrations and the restore reset may rewrite whole tables, and a replica may wait for another's migration. */
const LONG_BOUND_MS = 60_000;

/** `/readyz` must answer quickly: its write probe runs at most this long. */
const PROBE_BOUND_MS = 1000;

/**
 * The session-level advisory lock every process takes around its
 * migrations: one per database and schema, so replicas starting together
 * migrate once (the first runs them, the others wait, then find nothing to
 * do) and test schemas side by side do not wait for each other.
 */
export const MIGRATION_LOCK_KEY_SQL = "hashtextextended('kubegate.migrate:' || current_database() || '.' || current_schema(), 0)";

/**
 * The transaction-scoped advisory lock around the key schedule's
 * check-then-write (Store.addSigningKeyIfNeeded): replicas starting together
 * on an empty database, or finding rotation due at the same sync, add one key.
 */
export const SIGNING_KEYS_LOCK_KEY_SQL = "hashtextextended('kubegate.signing_keys:' || current_database() || '.' || current_schema(), 0)";

export interface PostgresStoreOptions {
  /** Connections this process keeps at most (`storage.postgres.pool_size`). */
  poolSize?: number;
  /** Longest wait for a connection: opening one, or a free one of the pool (ms). */
  connectTimeoutMs?: number;
  /** Longest any statement of a request runs, enforced by the server and, for a silent one, by the client (ms). */
  statementTimeoutMs?: number;
  /**
   * TLS (`storage.postgres.ssl`). Given, it replaces whatever the URL's
   * `sslmode` says; absent, the URL decides (no `sslmode`: no TLS).
   */
  ssl?: { caFile?: string; rejectUnauthorized?: boolean };
  /** Server options at connection start, e.g. `-c search_path=kubegate` (tests use a schema each). */
  options?: string;
  /** How the connections show in pg_stat_activity (default `kubegate`). */
  applicationName?: string;
  /** Told of every audit event this process commits (lib/store/audit-stdout.ts); each replica tells its own. */
  onAudit?: AuditListener;
  /** Problems worth an operator's attention that do not stop the store (an idle connection lost). */
  warn?: (message: string, fields?: Record<string, unknown>) => void;
}

/** Node's socket errors that mean the server is not there (or went away). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

type Reason = StoreUnavailableError['reason'];

/** SQLSTATEs (and pg's own errors, which have none) that mean "not now", by reason. */
function reasonOf(code: string | undefined, message: string): Reason | undefined {
  if (code !== undefined) {
    if (SOCKET_CODES.has(code)) return 'unreachable';
    // Class 08: connection exception. 57P01-03: admin/crash shutdown, cannot connect now (starting, recovering).
    if (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code)) return 'unreachable';
    // statement_timeout (57014), idle_in_transaction_session_timeout (25P03).
    if (code === '57014' || code === '25P03') return 'timeout';
    // Too many connections, out of memory, a limit; lock_timeout; serialization failure, deadlock.
    if (['53300', '53200', '53400', '55P03', '40001', '40P01'].includes(code)) return 'busy';
    if (code === '53100') return 'full';
    // A standby (after a failover the old primary may be one): writes refused.
    if (code === '25006') return 'readonly';
    if (code === '58030') return 'io';
  }
  if (/timeout exceeded when trying to connect|Connection terminated due to connection timeout|Query read timeout/i.test(message)) return 'timeout';
  if (/Connection terminated|not queryable|Connection ended/i.test(message)) return 'unreachable';
  if (/Cannot use a pool after calling end|driver has already been destroyed/i.test(message)) return 'closed';
  return undefined;
}

/**
 * PostgreSQL's and pg's "not now" conditions as StoreUnavailableError (the
 * token endpoint answers 503 `temporarily_unavailable`), with the original as
 * cause; anything else (a constraint violated, a bug, a TLS misconfiguration)
 * is returned unchanged.
 */
export function storeErrorFromPostgres(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : '';
  const reason = reasonOf(code, message);
  if (!reason) return err;
  return storeUnavailable(reason, code ?? message, { cause: err });
}

/**
 * The statements each connection keeps prepared (by name) once it has run
 * them: the refresh path's, a fixed few. The server parses and plans them
 * once per connection instead of on every call; with a plan cached it may
 * also skip planning (generic plans). Every other statement is sent unnamed
 * (parsed per call), so the number prepared per connection stays bounded
 * whatever varies in other queries' text.
 */
export class PreparedStatements {
  private readonly names = new Map<string, string>();

  add(text: string): void {
    if (!this.names.has(text)) this.names.set(text, `kubegate_${this.names.size + 1}`);
  }

  nameOf(text: string): string | undefined {
    return this.names.get(text);
  }
}

/**
 * The pool as Kysely sees it, every error mapped where it happens (taking a
 * connection, every query), so every store method throws
 * StoreUnavailableError. A connection that failed that way is destroyed
 * on release, not reused: it may be dead, or still busy with a statement the
 * client gave up on.
 */
function mappedPool(pool: pg.Pool, prepared: PreparedStatements = new PreparedStatements()): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw storeErrorFromPostgres(err);
      }
      let broken = false;
      // pg emits 'error' on a client whose server went away (a restart, a terminated backend) even
      // while a query is failing with it, and the pool listens only on idle clients: without this,
      // a connection lost while checked out would be an uncaught exception that ends the process.
      const lost = () => {
        broken = true;
      };
      client.on('error', lost);
      return {
        async query(text: string, parameters: ReadonlyArray<unknown>) {
          try {
            const name = prepared.nameOf(text);
            return await (name ? client.query({ name, text, values: parameters as unknown[] }) : client.query(text, parameters as unknown[]));
          } catch (err) {
            const mapped = storeErrorFromPostgres(err);
            if (mapped instanceof StoreUnavailableError) broken = true;
            throw mapped;
          }
        },
        release() {
          client.removeListener('error', lost);
          client.release(broken || undefined);
        },
      } as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}

/**
 * The rotation as ONE statement (PostgreSQL's definition; the four-statement
 * grouped write in kysely-store.ts is SQLite's and the base's). A
 * data-modifying CTE: `head` is the same compare-and-set as everywhere
 * (advanceFamilyQuery), and every other part reads `head`, so it changes
 * something only when the compare-and-set matched: the presented token
 * marked used, the successor inserted (its family and generation taken from
 * the updated head), and the audit row, which is the statement's own INSERT:
 * its row count (1, or 0) is the guard's answer. Sent on its own (no
 * BEGIN/COMMIT), it is its own transaction; pg resolves it only at
 * ReadyForQuery, after the commit (durable with synchronous_commit on).
 *
 * Two of them on the same family (the same token at two replicas): the
 * second's UPDATE waits for the first's row lock, then re-checks its WHERE on
 * the committed row (READ COMMITTED), finds the generation moved, and `head`
 * is empty: nothing marked, no successor, no audit row, 0 rows: the caller
 * reads again (the grace replay). A revocation in between likewise.
 */
function rotationStatement(db: Kysely<Schema>) {
  return compiledTemplate(['from', 'generation', 'hash', 'successor', ...AUDIT_COLUMNS], (p) =>
    db
      .with('head', (qc) => advanceFamilyQuery(qc, { now: p.at, generation: p.generation, id: p.family_id, from: p.from }).returning(['id', 'generation']))
      .with('spent', (qc) =>
        qc
          .updateTable('refresh_tokens')
          .from('head')
          .set({ used_at: p.at })
          .where('refresh_tokens.hash', '=', p.hash)
          .where('refresh_tokens.used_at', 'is', null)
          .returning('refresh_tokens.hash'),
      )
      .with('successor', (qc) =>
        qc
          .insertInto('refresh_tokens')
          .columns(['hash', 'family_id', 'generation', 'created_at', 'used_at'])
          .expression((eb) =>
            eb.selectFrom('head').select((s) => [s.val(p.successor).as('hash'), 'head.id', 'head.generation', s.val(p.at).as('created_at'), s.lit(null).as('used_at')]),
          )
          .returning('refresh_tokens.hash'),
      )
      .insertInto('audit_events')
      .columns(AUDIT_COLUMNS)
      .expression((eb) => eb.selectFrom('head').select((s) => AUDIT_COLUMNS.map((c) => s.val(p[c]).as(c)))),
  );
}

/** Connection settings from the URL and the options; the TLS options replace the URL's sslmode. */
function poolConfig(url: string, o: PostgresStoreOptions, statementTimeoutMs: number, max: number): pg.PoolConfig {
  let connectionString = url;
  let ssl: pg.PoolConfig['ssl'];
  if (o.ssl) {
    // pg lets the URL's TLS parameters win over the config's: take them out.
    const u = new URL(url);
    for (const p of ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'uselibpqcompat']) u.searchParams.delete(p);
    connectionString = u.toString();
    ssl = {
      rejectUnauthorized: o.ssl.rejectUnauthorized ?? true,
      ...(o.ssl.caFile ? { ca: fs.readFileSync(o.ssl.caFile, 'utf8') } : {}),
    };
  }
  return {
    connectionString,
    ...(ssl ? { ssl } : {}),
    max,
    connectionTimeoutMillis: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: o.applicationName ?? 'kubegate',
    statement_timeout: statementTimeoutMs,
    // A server that stopped answering without closing the socket: the client gives up too.
    query_timeout: statementTimeoutMs + 2000,
    // A transaction left open by a process that hung is ended by the server, releasing its row locks.
    idle_in_transaction_session_timeout: Math.max(statementTimeoutMs, 10_000),
    ...(o.options ? { options: o.options } : {}),
  };
}

/**
 * The shared store for several replicas: the same Kysely queries as SQLite
 * (kysely-store.ts), over a `pg` pool.
 *
 * Grouped writes (rotation, revocation, audit rows) each run as one plain
 * transaction, the base KyselyStore path; SQLite's writer thread and group
 * commit do not exist here. Concurrency between processes is PostgreSQL's
 * READ COMMITTED: the rotation's guard `UPDATE families SET generation = ...
 * WHERE id = $1 AND generation = $2 AND revoked_at IS NULL` row-locks the
 * family; a second transaction updating the same row (the same token at
 * another replica, or a revocation) waits for the first to commit, then
 * re-evaluates the WHERE on the committed row, changes nothing and reports
 * `already_used` (the caller reads again: the grace replay, or a refusal);
 * it inserts no successor. The read that precedes a rotation takes no part
 * in the decision, so there is no read-then-write race; the unique
 * (family_id, generation) constraint backs it up: never two live heads.
 */
export class PostgresStore extends KyselyStore {
  private readonly rotation;
  /** The refresh read, compiled once (as on SQLite): Kysely would build and compile the 4-table join per call. */
  private readonly contextRead;

  /** `prepared`: the pool's registry (mappedPool); the refresh path's statements are added to it. */
  constructor(db: Kysely<Schema>, longDb: Kysely<Schema>, prepared?: PreparedStatements) {
    super(db, () => longDb.destroy(), longDb);
    this.rotation = rotationStatement(db);
    this.contextRead = compiledTemplate(['hash'], (p) => refreshContextQuery(db, p.hash));
    if (prepared) {
      const none = {} as never;
      for (const template of [this.contextRead, this.rotation, ...Object.values(this.statements)]) prepared.add(template(none).sql);
    }
  }

  override async findRefreshContext(tokenHash: string): Promise<RefreshContext | undefined> {
    const read = this.contextRead({ hash: tokenHash });
    const { rows } = await this.db.executeQuery<RefreshContextRow>(CompiledQuery.raw(read.sql, [...read.parameters]));
    return rows[0] && toRefreshContext(rows[0]);
  }

  /** One statement, one round trip (rotationStatement above). */
  protected override rotationWrite(r: RotationInput, now: number, event: AuditEventsTable): GroupedWrite {
    return {
      guard: true,
      steps: [this.rotation({ ...event, from: r.generation, generation: r.generation + 1, hash: r.tokenHash, successor: r.successorHash, family_id: r.familyId })],
    };
  }

  /** Migrations under the advisory lock, on one connection of the long pool (the lock is the session's). */
  override async migrate(): Promise<void> {
    await this.longDb.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(${sql.raw(MIGRATION_LOCK_KEY_SQL)})`.execute(conn);
      try {
        const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(conn);
        await new KyselyStore(conn).migrate(rows[0]?.schema);
      } finally {
        // Also released if the connection dies: a crashed replica never leaves it held.
        await sql`select pg_advisory_unlock(${sql.raw(MIGRATION_LOCK_KEY_SQL)})`.execute(conn);
      }
    });
  }

  /**
   * Held until the transaction ends; the check that follows is a new
   * statement, so under READ COMMITTED it sees whatever the previous holder
   * committed.
   */
  protected override async lockSigningKeys(trx: Transaction<Schema>): Promise<void> {
    await sql`select pg_advisory_xact_lock(${sql.raw(SIGNING_KEYS_LOCK_KEY_SQL)})`.execute(trx);
  }

  /**
   * One transaction per grouped write; with a budget, the server bounds its
   * statements to it. A write of one statement is sent alone, without
   * BEGIN/COMMIT: a statement outside a transaction block is a transaction of
   * its own (atomic, committed before pg resolves it), so it costs one round
   * trip instead of three.
   */
  protected override async applyWrite(write: GroupedWrite, budgetMs?: number): Promise<boolean> {
    if (budgetMs === undefined && write.steps.length === 1) {
      const step = write.steps[0]!;
      const r = await this.db.executeQuery(CompiledQuery.raw(step.sql, [...step.parameters]));
      return !write.guard || Number(r.numAffectedRows ?? 0) > 0;
    }
    if (budgetMs === undefined) return super.applyWrite(write);
    return this.db.transaction().execute(async (trx) => {
      await sql`select set_config('statement_timeout', ${String(Math.max(1, Math.floor(budgetMs)))}, true)`.execute(trx);
      for (const [i, step] of write.steps.entries()) {
        const r = await trx.executeQuery(CompiledQuery.raw(step.sql, [...step.parameters]));
        if (i === 0 && write.guard && Number(r.numAffectedRows ?? 0) === 0) return false;
      }
      return true;
    });
  }

  override async probeWrite(now: number): Promise<void> {
    await super.probeWrite(now, PROBE_BOUND_MS);
  }
}

/**
 * Opens the PostgreSQL store at `url` and applies migrations (under the
 * advisory lock). Two pools: requests get `poolSize` connections bounded by
 * the statement timeout; migrations and the restore reset get two with a
 * longer bound. The restore watermark of SQLite does not apply: see README
 * "PostgreSQL" (after a point-in-time restore, run `kubegate restore`).
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const statementTimeoutMs = opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  const pool = new pg.Pool(poolConfig(url, opts, statementTimeoutMs, opts.poolSize ?? DEFAULT_POOL_SIZE));
  const longPool = new pg.Pool(poolConfig(url, opts, Math.max(LONG_BOUND_MS, statementTimeoutMs), 2));
  // An idle connection lost (the server restarted) is an event, not a crash: the pool replaces it when needed.
  for (const p of [pool, longPool]) {
    p.on('error', (err) => opts.warn?.('a PostgreSQL connection was lost', { error: err.message }));
  }
  const prepared = new PreparedStatements();
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: mappedPool(pool, prepared) }) });
  const longDb = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: mappedPool(longPool) }) });
  const store = new PostgresStore(db, longDb, prepared);
  try {
    await store.migrate();
    store.setAuditListener(opts.onAudit);
    return store;
  } catch (err) {
    await store.close();
    throw err;
  }
}
