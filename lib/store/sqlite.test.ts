import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { bodyOf, MINUTE, openTestEnv, SECOND, TestClock, type TokenSuccess } from '../../test/support/fixtures';
import { runStoreConformance } from './conformance';
import { openSqliteStore } from './sqlite';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-sqlite-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const tmpFile = () => path.join(tmp, `${randomUUID()}`, 'kubegate.db');

runStoreConformance('sqlite :memory:', () => openSqliteStore(':memory:'));
runStoreConformance(
  'sqlite file',
  () => openSqliteStore(tmpFile(), { synchronous: 'normal' }),
  async (n) => {
    // Several processes on one file: each its own reader and writer thread.
    const file = tmpFile();
    const first = await openSqliteStore(file, { synchronous: 'normal' });
    return [first, ...(await Promise.all(Array.from({ length: n - 1 }, () => openSqliteStore(file, { synchronous: 'normal' }))))];
  },
);

/** Every text value in every table of a SQLite file. */
function allText(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[];
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['users', 'families', 'refresh_tokens', 'audit_events', 'signing_keys']));
    const out: string[] = [];
    for (const { name } of tables) {
      for (const row of db.prepare(`select * from "${name}"`).all() as Record<string, unknown>[]) {
        for (const v of Object.values(row)) if (typeof v === 'string') out.push(v);
      }
    }
    return out;
  } finally {
    db.close();
  }
}

describe('sqlite file store', () => {
  it('keeps everything across close and reopen (a process restart)', async () => {
    const file = tmpFile();
    const T = Date.UTC(2031, 0, 1);
    const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
    let store = await openSqliteStore(file);
    const user = await store.upsertUser({ upstream: 'local', subject: 's1', username: 'alice', groups: ['ops'] }, T);
    const session = await store.createLoginSession(
      { id: 'sess-1', user_id: user.id, upstream: 'local', amr: ['pwd'], auth_time: T, expires_at: T + 60 * MINUTE, client_ip: null, user_agent: null },
      T,
    );
    const fam = await store.createFamily(
      { id: 'fam-1', login_session_id: session.id, user_id: user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: session.expires_at, first_token_hash: hash('t0') },
      T,
      { kind: 'token.issued' },
    );
    await store.rotateRefreshToken({ tokenHash: hash('t0'), successorHash: hash('t1'), familyId: fam.id, generation: 0 }, T + MINUTE, { kind: 'token.refreshed' });
    await store.activateSigningKey(
      { kid: 'k1', alg: 'ES256', private_jwk: '{}', public_jwk: '{}', created_at: T, activates_at: 0, retired_at: null, expires_at: null, revoked_at: null },
      T,
      T,
    );
    const secret = await store.getOrCreateSecret('refresh_successor_key', () => 'first', T);
    const before = {
      user: await store.getUser(user.id),
      session: await store.getLoginSession(session.id),
      family: await store.getFamily(fam.id),
      head: await store.findRefreshContext(hash('t1')),
      spent: await store.findRefreshContext(hash('t0')),
      keys: await store.listSigningKeys(),
      audit: await store.listAudit({ limit: 100 }),
    };
    await store.close();

    store = await openSqliteStore(file);
    try {
      expect({
        user: await store.getUser(user.id),
        session: await store.getLoginSession(session.id),
        family: await store.getFamily(fam.id),
        head: await store.findRefreshContext(hash('t1')),
        spent: await store.findRefreshContext(hash('t0')),
        keys: await store.listSigningKeys(),
        audit: await store.listAudit({ limit: 100 }),
      }).toEqual(before);
      expect(before.family).toMatchObject({ generation: 1, last_used_at: T + MINUTE });
      expect(before.audit).toHaveLength(3);
      expect(await store.getOrCreateSecret('refresh_successor_key', () => 'second', T + MINUTE)).toBe(secret);
      // The compare-and-set still holds after the restart.
      expect(await store.rotateRefreshToken({ tokenHash: hash('t0'), successorHash: hash('x'), familyId: fam.id, generation: 0 }, T + 2 * MINUTE, { kind: 'token.refreshed' })).toBe('already_used');
    } finally {
      await store.close();
    }
  });

  it('lets kubectl keep refreshing across a restart: same key, same successor on a grace replay', async () => {
    const file = tmpFile();
    const clock = new TestClock();
    const first = await openTestEnv({ store: await openSqliteStore(file), clock });
    const minted = await first.mint('prod');
    const r1 = bodyOf<TokenSuccess>(await first.refresh(minted.refreshToken));
    const kid = first.rt.keys.current().kid;
    const jwks = first.rt.keys.jwksJson();
    await first.close();

    clock.advance(2 * SECOND);
    const second = await openTestEnv({ store: await openSqliteStore(file), clock });
    try {
      expect(second.rt.keys.current().kid).toBe(kid);
      expect(second.rt.keys.jwksJson()).toBe(jwks);
      // The token spent just before the restart is replayed to the same successor:
      // the successor key survived in the store.
      const replay = await second.refresh(minted.refreshToken);
      expect(replay.status).toBe(200);
      expect(bodyOf<TokenSuccess>(replay).refresh_token).toBe(r1.refresh_token);
      const next = await second.refresh(r1.refresh_token);
      expect(next.status).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('holds no refresh token in clear, in any text column of any table', async () => {
    const file = tmpFile();
    const clock = new TestClock();
    const env = await openTestEnv({ store: await openSqliteStore(file), clock });
    const tokens: string[] = [];
    try {
      // Every path that touches a token: mint, rotate, replay, reuse detection, a denial, a second cluster.
      const a = await env.mint('prod');
      tokens.push(a.refreshToken);
      clock.advance(30 * SECOND);
      const r1 = bodyOf<TokenSuccess>(await env.refresh(a.refreshToken));
      tokens.push(r1.refresh_token);
      clock.advance(SECOND);
      expect((await env.refresh(a.refreshToken)).status).toBe(200); // grace replay
      clock.advance(30 * SECOND);
      const r2 = bodyOf<TokenSuccess>(await env.refresh(r1.refresh_token, 'prod', { style: 'form' }));
      tokens.push(r2.refresh_token);
      const b = await env.mint('staging');
      tokens.push(b.refreshToken);
      expect((await env.refresh(b.refreshToken, 'prod')).status).toBe(400); // wrong audience: denied and audited
      clock.advance(MINUTE);
      expect((await env.refresh(a.refreshToken)).status).toBe(400); // reuse: family revoked and audited
    } finally {
      await env.close();
    }
    const text = allText(file);
    const joined = text.join('\n');
    for (const t of tokens) {
      expect(joined).not.toContain(t);
      expect(joined).not.toContain(t.slice('kgr_'.length));
      // Sanity: the scan does see the stored hash.
      expect(joined).toContain(createHash('sha256').update(t).digest('base64url'));
    }
    expect(joined).toContain('token.reuse_detected');
  });
});

describe('SQLite file permissions', () => {
  it('keeps the database (which holds the signing keys) and its WAL readable by the owner only', async () => {
    const file = path.join(tmp, 'perm', 'kubegate.db');
    const store = await openSqliteStore(file);
    try {
      await store.getOrCreateSecret('x', () => 'y', Date.now());
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(fs.statSync(f).mode & 0o777, f).toBe(0o600);
      expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    } finally {
      await store.close();
    }
  });
});
