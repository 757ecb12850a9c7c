import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ResolvedConfig } from '../config/load';
import type { Store } from '../store/types';
import { KEY_SYNC_INTERVAL_SECONDS } from '../oidc/key-timing';
import { AdminError } from './commands';

/**
 * `kubegate backup FILE` and `kubegate restore`: the storage half of the
 * admin command. See README "Backup and restore".
 */

export interface BackupResult {
  file: string;
  bytes: number;
  /** The database's write count in the copy (restore detection compares it with the watermark). */
  writeSeq: number | null;
}

/**
 * A consistent copy of a SQLite database while Kubegate serves it, with
 * SQLite's online backup API: every page is copied from one snapshot (a WAL
 * reader never blocks the server's writes; a write that lands meanwhile
 * makes SQLite start the copy over). The copy is one self-contained file
 * (rollback journal mode, no -wal beside it), owner-only like the database,
 * and is checked before it is reported. An existing `dest` is never
 * overwritten.
 */
export async function backupDatabase(source: string, dest: string): Promise<BackupResult> {
  if (!fs.existsSync(source)) throw new AdminError('backup_failed', `no database at ${source}`);
  const target = path.resolve(dest);
  let fd: number;
  try {
    fd = fs.openSync(target, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AdminError('backup_failed', code === 'EEXIST' ? `${target} already exists; a backup never overwrites a file` : `cannot create ${target}: ${code ?? String(err)}`);
  }
  fs.closeSync(fd);
  const db = new Database(source, { fileMustExist: true, timeout: 5000 });
  try {
    // The first step copies 100 pages; every later one, all that remain.
    await db.backup(target, { progress: () => 2 ** 30 });
  } catch (err) {
    fs.rmSync(target, { force: true });
    throw new AdminError('backup_failed', `backup of ${source} failed: ${(err as Error).message}`);
  } finally {
    db.close();
  }
  const copy = new Database(target, { fileMustExist: true });
  let writeSeq: number | null;
  try {
    copy.pragma('journal_mode = DELETE');
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new AdminError('backup_failed', `the copy in ${target} failed its integrity check: ${String(check)}`);
    const row = copy.prepare("select value from kubegate_meta where name = 'write_seq'").get() as { value: string } | undefined;
    writeSeq = row ? Number(row.value) : null;
  } finally {
    copy.close();
  }
  fs.chmodSync(target, 0o600);
  return { file: target, bytes: fs.statSync(target).size, writeSeq };
}

/**
 * The restore reset, on purpose: for a restore that brought the watermark
 * back too (a volume snapshot), which the open cannot tell from no restore.
 * Every sign-in and credential is revoked, every signing key withdrawn.
 */
export async function resetAfterRestore(store: Store, now: number): Promise<string[]> {
  const c = await store.markRestored(now, { reason: 'restore_command' });
  return [
    `revoked ${c.sessions_revoked} sign-in(s) and ${c.families_revoked} credential(s) and withdrew ${c.keys_withdrawn} signing key(s):`,
    `everyone signs in again; Kubegate creates a new signing key when it starts (a running Kubegate within ${KEY_SYNC_INTERVAL_SECONDS} s).`,
  ];
}

/** `kubegate backup FILE`, for the configured store. */
export async function backupCommand(config: ResolvedConfig, dest: string | undefined): Promise<string[]> {
  if (!dest) throw new AdminError('usage', 'backup needs a destination file, e.g. `kubegate backup /backups/kubegate-2031-01-01.db`');
  if (!config.storage.sqlite) throw new AdminError('backup_failed', 'backup copies the SQLite database; use your PostgreSQL tools for storage.postgres');
  const r = await backupDatabase(config.storage.sqlite.path, dest);
  return [`backed up ${config.storage.sqlite.path} to ${r.file} (${r.bytes} bytes, write count ${r.writeSeq ?? 'none'})`];
}
