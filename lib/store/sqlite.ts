import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyStore, type Database as Schema } from './kysely-store';

export type SqliteSynchronous = 'full' | 'normal';

/**
 * Opens (creating if needed) the embedded SQLite store in WAL mode.
 *
 * `synchronous`: FULL fsyncs the WAL on every commit, so a rotated refresh
 * token survives even a power loss; NORMAL survives a killed process but
 * may lose the last commits on power loss. See README "Storage".
 */
export async function openSqliteStore(file: string, opts: { synchronous?: SqliteSynchronous } = {}): Promise<KyselyStore> {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
  const store = new KyselyStore(db);
  await store.migrate();
  return store;
}
