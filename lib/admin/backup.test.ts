import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { bodyOf, MINUTE, openTestEnv, SECOND, TestClock, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { openSqliteStore, type SqliteStoreOptions } from '../store/sqlite';
import { backupDatabase, resetAfterRestore } from './backup';
import { AdminError } from './commands';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-backup-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const newDir = () => {
  const dir = path.join(tmp, randomUUID());
  fs.mkdirSync(dir);
  return dir;
};

/** What an operator does to restore a backup: Kubegate stopped, the copy put in place, the old WAL gone. */
function putBack(copy: string, file: string) {
  fs.copyFileSync(copy, file);
  for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
}

async function envOn(file: string, clock: TestClock, opts: SqliteStoreOptions = {}): Promise<TestEnv> {
  return openTestEnv({ store: await openSqliteStore(file, { now: clock.now, ...opts }), clock });
}

async function expectRefused(env: TestEnv, token: string) {
  const r = await env.refresh(token);
  expect(r.status).toBe(400);
  expect(bodyOf<{ error: string }>(r).error).toBe('invalid_grant');
}

describe('restoring a backup', () => {
  it('brings no token back: neither the one spent after the backup nor the then-head works, and the restore is audited', async () => {
    const dir = newDir();
    const file = path.join(dir, 'kubegate.db');
    const clock = new TestClock();
    let env = await envOn(file, clock);
    const minted = await env.mint('prod');
    clock.advance(30 * SECOND);
    const t1 = bodyOf<TokenSuccess>(await env.refresh(minted.refreshToken)).refresh_token;
    const copy = path.join(dir, 'backup.db');
    await backupDatabase(file, copy);
    // After the backup, the legitimate holder refreshes on: t1 is spent, t2 is the head.
    clock.advance(30 * SECOND);
    const t2 = bodyOf<TokenSuccess>(await env.refresh(t1)).refresh_token;
    const oldKeys = (await env.store.listSigningKeys()).map((k) => k.kid);
    await env.close();

    putBack(copy, file);
    clock.advance(MINUTE);
    const warnings: string[] = [];
    const store = await openSqliteStore(file, { now: clock.now, warn: (m) => warnings.push(m) });
    expect(store.restore).toMatchObject({ reason: 'behind_watermark', sessions_revoked: 1, families_revoked: 1, keys_withdrawn: 1 });
    expect(store.restore!.database_seq!).toBeLessThan(store.restore!.watermark_seq!);
    expect(warnings).toEqual([expect.stringMatching(/the database is a restore/)]);
    env = await openTestEnv({ store, clock });
    try {
      // In the copy t1 was never spent: it must not work again, nor its successor, nor anything older.
      await expectRefused(env, t1);
      await expectRefused(env, t2);
      await expectRefused(env, minted.refreshToken);
      expect((await store.getFamily(minted.family.id))!.revoke_reason).toBe('restored');
      const [event] = await store.listAudit({ limit: 10, kind: 'store.restored' });
      expect(event).toMatchObject({
        at: clock.now(),
        details: {
          reason: 'behind_watermark',
          database_seq: store.restore!.database_seq,
          watermark_seq: store.restore!.watermark_seq,
          sessions_revoked: 1,
          families_revoked: 1,
          keys_withdrawn: 1,
        },
      });
      // Every key from before the restore is withdrawn.
      for (const k of await store.listSigningKeys()) if (oldKeys.includes(k.kid)) expect(k.revoked_at, k.kid).toBe(clock.now());
      // A new sign-in works.
      const fresh = await env.mint('prod');
      expect((await env.refresh(fresh.refreshToken)).status).toBe(200);
    } finally {
      await env.close();
    }

    // A restart afterwards is not a restore.
    const again = await openSqliteStore(file, { now: clock.now });
    expect(again.restore).toBeUndefined();
    expect(await again.listAudit({ limit: 10, kind: 'store.restored' })).toHaveLength(1);
    await again.close();
  });

  it('detects a database restored without its watermark (moved, or the watermark lost) and one from another installation', async () => {
    const clock = new TestClock();
    const a = path.join(newDir(), 'kubegate.db');
    const b = path.join(newDir(), 'kubegate.db');
    for (const file of [a, b]) {
      const env = await envOn(file, clock);
      await env.mint('prod');
      await env.close();
    }
    // b's database in a's place: another instance.
    putBack(b, a);
    let store = await openSqliteStore(a, { now: clock.now });
    expect(store.restore?.reason).toBe('other_database');
    await store.close();
    // The watermark gone.
    fs.rmSync(`${b}.watermark`);
    store = await openSqliteStore(b, { now: clock.now });
    expect(store.restore?.reason).toBe('watermark_missing');
    await store.close();
  });

  it('kubegate restore: after a snapshot brought the watermark back too, revokes everything from before on purpose', async () => {
    const dir = newDir();
    const file = path.join(dir, 'kubegate.db');
    const clock = new TestClock();
    let env = await envOn(file, clock);
    const minted = await env.mint('prod');
    await env.close();
    // A volume snapshot: the database and the watermark beside it, together.
    const snapshot = newDir();
    for (const f of ['kubegate.db', 'kubegate.db.watermark']) fs.copyFileSync(path.join(dir, f), path.join(snapshot, f));

    env = await envOn(file, clock);
    clock.advance(30 * SECOND);
    const t1 = bodyOf<TokenSuccess>(await env.refresh(minted.refreshToken)).refresh_token;
    await env.close();

    for (const f of ['kubegate.db', 'kubegate.db.watermark']) fs.copyFileSync(path.join(snapshot, f), path.join(dir, f));
    for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
    clock.advance(MINUTE);
    const store = await openSqliteStore(file, { now: clock.now });
    // Nothing to tell it from a restart: the open cannot know.
    expect(store.restore).toBeUndefined();
    expect(await resetAfterRestore(store, clock.now())).toEqual([
      'revoked 1 sign-in(s) and 1 credential(s) and withdrew 1 signing key(s):',
      expect.stringMatching(/everyone signs in again/),
    ]);
    env = await openTestEnv({ store, clock });
    try {
      await expectRefused(env, minted.refreshToken);
      await expectRefused(env, t1);
      expect((await store.listAudit({ limit: 1, kind: 'store.restored' }))[0]!.details).toMatchObject({ reason: 'restore_command', families_revoked: 1 });
    } finally {
      await env.close();
    }
  });
});

describe('backupDatabase', () => {
  it('copies a database in use into one owner-only file, checked, and never overwrites one', async () => {
    const dir = newDir();
    const file = path.join(dir, 'kubegate.db');
    const clock = new TestClock();
    const env = await envOn(file, clock);
    try {
      const minted = await env.mint('prod');
      // While the store is open, with rotations in flight.
      const copy = path.join(dir, 'copy.db');
      const [result] = await Promise.all([backupDatabase(file, copy), env.refresh(minted.refreshToken)]);
      expect(result).toMatchObject({ file: copy, writeSeq: expect.any(Number) });
      expect(result.bytes).toBe(fs.statSync(copy).size);
      expect(fs.statSync(copy).mode & 0o777).toBe(0o600);
      expect(fs.existsSync(`${copy}-wal`)).toBe(false);
      const db = new Database(copy, { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
        expect(db.prepare('select id from families').all()).toEqual([{ id: minted.family.id }]);
      } finally {
        db.close();
      }
      await expect(backupDatabase(file, copy)).rejects.toThrow(new AdminError('backup_failed', `${copy} already exists; a backup never overwrites a file`));
      await expect(backupDatabase(path.join(dir, 'nope.db'), path.join(dir, 'x.db'))).rejects.toThrow(AdminError);
    } finally {
      await env.close();
    }
  });
});
