import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely } from 'kysely';
import { KyselyStore, refreshContextQuery, toRefreshContext, type AuditListener, type Database as Schema, type RefreshContextRow } from './kysely-store';
import { SqliteReader, SqliteRoutingDialect } from './sqlite-dialect';
import { SqliteWriter } from './sqlite-writer';
import type { RefreshContext, RestoreCounts } from './types';
import { defaultWatermarkFile, judgeRestore, readWatermark, type RestoreReason, type WatermarkFile } from './watermark';
import type { GroupedWrite } from './write-engine';

export type SqliteSynchronous = 'full' | 'normal';

/** Default bound on any write's wait for the database (another process's lock), ms. */
export const DEFAULT_BUSY_TIMEOUT_MS = 3000;

/** `/readyz` must answer quickly: its write probe waits at most this long. */
const PROBE_BOUND_MS = 1000;

/** Migrations and the restore reset may rewrite whole tables: a longer bound than requests get. */
const LONG_BOUND_MS = 60_000;

export interface SqliteStoreOptions {
  /** FULL (default) fsyncs every commit; NORMAL survives a killed process but not a power cut. */
  synchronous?: SqliteSynchronous;
  /** Bound on any write's wait for the database, ms (`storage.sqlite.busy_timeout`). */
  busyTimeoutMs?: number;
  /** Where the restore watermark is kept (default: beside the database file). */
  watermarkFile?: string;
  /** The clock of a restore reset at open. */
  now?: () => number;
  /** Problems worth an operator's attention that do not stop the store (a detected restore, an unwritable watermark). */
  warn?: (message: string, fields?: Record<string, unknown>) => void;
  /** Told of every audit event once committed, from the open on (a restore's `store.restored` too). */
  onAudit?: AuditListener;
}

/** What the open found when the database was a restore, and what it revoked. */
export interface RestoreReport extends RestoreCounts {
  reason: RestoreReason;
  database_seq: number | null;
  watermark_seq: number | null;
  watermark_file: string;
}

/**
 * The embedded store. Two connections:
 *
 * - reads run on the caller's thread, on a connection that never waits on a
 *   lock (WAL readers do not wait for writers; busy_timeout 0). The refresh
 *   context read is one prepared statement compiled once from the shared
 *   Kysely query (refreshContextQuery);
 * - every write goes through the SqliteWriter: one write connection on a
 *   writer thread, every write bounded by the busy timeout, grouped writes
 *   (rotations, audit rows, ...) group-committed so one fsync covers many.
 *
 * Storage failures surface as StoreUnavailableError (busy, full, readonly,
 * io, closed, timeout) from every method, with nothing changed.
 */
export class SqliteStore extends KyselyStore {
  private readonly contextSql: string;
  private context: PreparedContext | undefined;
  /** Set when the open found a restored database and reset it (see watermark.ts). */
  restore: RestoreReport | undefined;

  constructor(
    db: Kysely<Schema>,
    private readonly reader: SqliteReader,
    private readonly writer: SqliteWriter,
    longDb: Kysely<Schema> = db,
  ) {
    super(db, undefined, longDb);
    this.contextSql = refreshContextQuery(db, '').compile().sql;
  }

  override async findRefreshContext(tokenHash: string): Promise<RefreshContext | undefined> {
    const q = (this.context ??= prepareContext(this.reader, this.contextSql));
    const values = this.reader.get(q.stmt, [tokenHash]) as unknown[] | undefined;
    if (!values) return undefined;
    return toRefreshContext(q.toRow(values));
  }

  protected override applyWrite(write: GroupedWrite, budgetMs?: number): Promise<boolean> {
    return this.writer.group(write, budgetMs);
  }

  override async probeWrite(now: number): Promise<void> {
    await super.probeWrite(now, Math.min(PROBE_BOUND_MS, this.writer.busyTimeoutMs));
  }

  /**
   * TEST HOOK (never called by Kubegate): caps the database's size on the
   * write connection, `PRAGMA max_page_count`, to make the disk "full" and
   * clear it again. `null` only reads the figures.
   */
  testingSetMaxPageCount(pages: number | null): Promise<{ max: number; used: number }> {
    return this.writer.testingSetMaxPageCount(pages);
  }

  /**
   * At open, inside one write transaction: compares the database's write
   * count and instance id with the watermark file; on a restore, revokes
   * everything issued before it and moves the count past the watermark.
   * Then every later commit bumps the count and rewrites the file.
   */
  async reconcileWatermark(file: string, now: number): Promise<RestoreReport | undefined> {
    const outcome = await this.transact(this.longDb, async (trx) => {
      const meta = new Map(
        (await trx.selectFrom('kubegate_meta').select(['name', 'value']).where('name', 'in', ['instance_id', 'write_seq']).execute()).map((r) => [
          r.name,
          r.value,
        ]),
      );
      const holdsData =
        (await trx.selectFrom('login_sessions').select('id').limit(1).execute()).length > 0 ||
        (await trx.selectFrom('families').select('id').limit(1).execute()).length > 0 ||
        (await trx.selectFrom('signing_keys').select('kid').limit(1).execute()).length > 0;
      // Read while holding the write lock: no other process commits (and moves the watermark) meanwhile.
      const watermark: WatermarkFile = readWatermark(file);
      const marks = { instanceId: meta.get('instance_id'), seq: meta.has('write_seq') ? Number(meta.get('write_seq')) : undefined, holdsData };
      const verdict = judgeRestore(marks, watermark);
      let report: RestoreReport | undefined;
      if (verdict.restored) {
        const facts = {
          reason: verdict.reason,
          database_seq: marks.seq ?? null,
          watermark_seq: watermark.state === 'present' ? watermark.seq : null,
          watermark_file: file,
        };
        report = { ...facts, ...(await this.revokeEverything(trx, now, facts)) };
      }
      const instanceId = marks.instanceId ?? randomUUID();
      for (const [name, value] of [
        ['instance_id', instanceId],
        ['write_seq', String(verdict.seq)],
      ] as const) {
        await trx.insertInto('kubegate_meta').values({ name, value }).onConflict((oc) => oc.column('name').doUpdateSet({ value })).execute();
      }
      return { report, instanceId };
    });
    await this.writer.mark(file, outcome.instanceId);
    this.restore = outcome.report;
    return outcome.report;
  }

  /** Lets queued writes finish, then closes both connections. Every call after it fails with StoreUnavailableError('closed'). */
  override async close(): Promise<void> {
    // Not Kysely's destroy: its driver holds nothing, and a destroyed Kysely would fail calls with its own error.
    await this.writer.close();
    this.reader.close();
  }
}

/**
 * Opens (creating if needed) the embedded SQLite store in WAL mode, applies
 * migrations, and (for a file) checks whether the database is a restore.
 *
 * `synchronous`: FULL fsyncs the WAL on every commit, so a rotated refresh
 * token survives even a power loss; NORMAL survives a killed process but
 * may lose the last commits on power loss. See README "Storage".
 */
export async function openSqliteStore(file: string, opts: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const warn = opts.warn ?? (() => {});
  const writerOpts = { busyTimeoutMs, warn: (message: string) => warn(message) };
  let writer: SqliteWriter;
  let reader: SqliteReader;
  if (file === ':memory:') {
    // One connection for both: no other connection can see an in-memory database.
    const sqlite = new Database(':memory:');
    sqlite.pragma('foreign_keys = ON');
    writer = SqliteWriter.inline(sqlite, writerOpts);
    reader = new SqliteReader(sqlite, { shared: true });
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // The file holds the signing keys: owner only. SQLite gives the -wal and
    // -shm files the database file's mode, so this comes before WAL mode.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
    writer = await SqliteWriter.threaded(path.resolve(file), opts.synchronous === 'normal' ? 'NORMAL' : 'FULL', writerOpts);
    try {
      reader = new SqliteReader(new Database(file, { fileMustExist: true, timeout: 0 }));
    } catch (err) {
      await writer.close();
      throw err;
    }
  }
  const db = new Kysely<Schema>({ dialect: new SqliteRoutingDialect({ reader, writer }) });
  const longDb = new Kysely<Schema>({ dialect: new SqliteRoutingDialect({ reader, writer, budgetMs: LONG_BOUND_MS }) });
  const store = new SqliteStoreOpening(db, reader, writer);
  try {
    // Migrations first: the store prepares statements against the tables.
    await new KyselyStore(db, undefined, longDb).migrate();
    const opened = new SqliteStore(db, reader, writer, longDb);
    opened.setAuditListener(opts.onAudit);
    if (file !== ':memory:') {
      const watermark = path.resolve(opts.watermarkFile ?? defaultWatermarkFile(file));
      const report = await opened.reconcileWatermark(watermark, (opts.now ?? Date.now)());
      if (report) {
        warn('the database is a restore: every sign-in and credential issued before it was revoked, and every signing key withdrawn', { ...report });
      }
    }
    return opened;
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The refresh-context read as a raw statement, and how its values become a row. */
interface PreparedContext {
  stmt: Database.Statement;
  toRow: (values: unknown[]) => RefreshContextRow;
}

/** Every column of the refresh-context row, in the row type's terms. */
const CONTEXT_COLUMNS = [
  'hash', 'family_id', 't_generation', 't_created_at', 'used_at',
  'login_session_id', 'user_id', 'cluster', 'client_id', 'origin', 'f_created_at', 'last_used_at',
  'f_expires_at', 'f_generation', 'f_revoked_at', 'f_revoke_reason',
  's_upstream', 'amr', 'auth_time', 's_created_at', 's_expires_at', 's_revoked_at', 's_revoke_reason', 'client_ip', 'user_agent', 'last_seen_at',
  'u_upstream', 'subject', 'username', 'email', 'name', 'groups', 'u_created_at', 'u_updated_at', 'checked_at', 'check_failing_since',
] as const satisfies ReadonlyArray<keyof RefreshContextRow>;

/**
 * The row is built as one object literal over the statement's column
 * positions, found once: the same shape every time, where assigning 36
 * names one by one into an empty object made V8 fall back to a slow
 * dictionary object on every read.
 */
function prepareContext(reader: SqliteReader, sql: string): PreparedContext {
  const { stmt, columns } = reader.prepareRaw(sql);
  const at = (name: (typeof CONTEXT_COLUMNS)[number]): number => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`the refresh-context query has no column ${name}`);
    return i;
  };
  const [hash, family_id, t_generation, t_created_at, used_at, login_session_id, user_id, cluster, client_id, origin, f_created_at, last_used_at,
    f_expires_at, f_generation, f_revoked_at, f_revoke_reason, s_upstream, amr, auth_time, s_created_at, s_expires_at, s_revoked_at, s_revoke_reason,
    client_ip, user_agent, last_seen_at, u_upstream, subject, username, email, name, groups, u_created_at, u_updated_at, checked_at, check_failing_since,
  ] = CONTEXT_COLUMNS.map(at);
  if (columns.length !== CONTEXT_COLUMNS.length) throw new Error(`the refresh-context query has ${columns.length} columns, expected ${CONTEXT_COLUMNS.length}`);
  const toRow = (v: unknown[]) =>
    ({
      hash: v[hash!], family_id: v[family_id!], t_generation: v[t_generation!], t_created_at: v[t_created_at!], used_at: v[used_at!],
      login_session_id: v[login_session_id!], user_id: v[user_id!], cluster: v[cluster!], client_id: v[client_id!], origin: v[origin!],
      f_created_at: v[f_created_at!], last_used_at: v[last_used_at!], f_expires_at: v[f_expires_at!], f_generation: v[f_generation!],
      f_revoked_at: v[f_revoked_at!], f_revoke_reason: v[f_revoke_reason!], s_upstream: v[s_upstream!], amr: v[amr!], auth_time: v[auth_time!],
      s_created_at: v[s_created_at!], s_expires_at: v[s_expires_at!], s_revoked_at: v[s_revoked_at!], s_revoke_reason: v[s_revoke_reason!],
      client_ip: v[client_ip!], user_agent: v[user_agent!], last_seen_at: v[last_seen_at!], u_upstream: v[u_upstream!], subject: v[subject!],
      username: v[username!], email: v[email!], name: v[name!], groups: v[groups!], u_created_at: v[u_created_at!], u_updated_at: v[u_updated_at!],
      checked_at: v[checked_at!], check_failing_since: v[check_failing_since!],
    }) as RefreshContextRow;
  return { stmt, toRow };
}

/** Closes the connections of a store whose open failed (no statements prepared yet). */
class SqliteStoreOpening {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly reader: SqliteReader,
    private readonly writer: SqliteWriter,
  ) {}
  async close(): Promise<void> {
    await this.writer.close();
    this.reader.close();
    await this.db.destroy();
  }
}
