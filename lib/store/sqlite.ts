import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase } from 'kysely';
import { auditRow, KyselyStore, refreshContextQuery, toRefreshContext, type Database as Schema, type RefreshContextRow } from './kysely-store';
import { RotationWriter } from './rotation-writer';
import type { AuditInput, RefreshContext, RotateResult } from './types';

export type SqliteSynchronous = 'full' | 'normal';

/**
 * Kysely's SQLite driver prepares every statement anew on each call; the
 * store runs a small, fixed set of statements, so keep them prepared.
 */
function withStatementCache(db: Database.Database, max = 256): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => db.close(),
    prepare: (sql: string) => {
      // Kysely opens transactions with a deferred BEGIN; a transaction that
      // reads, then writes after the rotation writer committed, would fail
      // at once with SQLITE_BUSY_SNAPSHOT. IMMEDIATE takes the write lock
      // up front, so busy_timeout applies instead.
      if (sql === 'begin') sql = 'begin immediate';
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
        cache.set(sql, stmt);
      }
      return stmt as unknown as ReturnType<SqliteDatabase['prepare']>;
    },
  };
}

/**
 * The embedded store. Everything goes through Kysely like the other
 * backends, except the two statements on the token endpoint's path:
 *
 * - the refresh context read: a prepared statement whose SQL is compiled
 *   once from the shared Kysely query (refreshContextQuery), run under the
 *   Kysely driver's connection lock so it never lands inside another
 *   caller's open transaction;
 * - rotations, through the RotationWriter: group commit on a writer thread
 *   with its own connection, so one fsync covers every rotation that queued
 *   while the previous batch committed, and the event loop never waits on it.
 */
export class SqliteStore extends KyselyStore {
  private readonly contextStmt: Database.Statement<[string], RefreshContextRow>;

  constructor(
    db: Kysely<Schema>,
    sqlite: Database.Database,
    private readonly writer: RotationWriter,
  ) {
    super(db);
    this.contextStmt = sqlite.prepare(refreshContextQuery(db, '').compile().sql);
  }

  override async findRefreshContext(tokenHash: string): Promise<RefreshContext | undefined> {
    return this.db.connection().execute(async () => {
      const row = this.contextStmt.get(tokenHash);
      return row && toRefreshContext(row);
    });
  }

  override rotateRefreshToken(
    r: { tokenHash: string; successorHash: string; familyId: string; generation: number },
    now: number,
    audit: AuditInput,
  ): Promise<RotateResult> {
    return this.writer.write({ now, ...r, audit: { ...auditRow({ ...audit, family_id: r.familyId }, now) } });
  }

  override async close(): Promise<void> {
    await this.writer.close();
    await super.close();
  }
}

/**
 * Opens (creating if needed) the embedded SQLite store in WAL mode.
 *
 * `synchronous`: FULL fsyncs the WAL on every commit, so a rotated refresh
 * token survives even a power loss; NORMAL survives a killed process but
 * may lose the last commits on power loss. See README "Storage".
 */
export async function openSqliteStore(file: string, opts: { synchronous?: SqliteSynchronous } = {}): Promise<SqliteStore> {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new Database(file);
  // The file holds the signing keys: owner only. SQLite gives the -wal and
  // -shm files the database file's mode, so this comes before WAL mode.
  if (file !== ':memory:') fs.chmodSync(file, 0o600);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  // Migrations first: the store prepares statements against the tables.
  await new KyselyStore(db).migrate();
  const sync = opts.synchronous === 'normal' ? 'NORMAL' : 'FULL';
  const writer =
    file === ':memory:'
      ? RotationWriter.inline(sqlite, (fn) => db.connection().execute(async () => fn()))
      : RotationWriter.threaded(path.resolve(file), sync);
  return new SqliteStore(db, sqlite, writer);
}
