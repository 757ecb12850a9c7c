/**
 * The SQLite store when the database cannot be written: locked by another
 * process, or out of space. Every write waits on the writer thread (never
 * the event loop) for at most the bound, fails with StoreUnavailableError
 * having changed nothing, and the store recovers by itself.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from './errors';
import { openSqliteStore, type SqliteStore } from './sqlite';

const T0 = Date.UTC(2031, 0, 1);
const MIN = 60_000;
const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-availability-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const tmpFile = (dir = tmp) => path.join(dir, randomUUID(), 'kubegate.db');

async function seed(store: SqliteStore, token: string) {
  const user = await store.upsertUser({ upstream: 'local', subject: 'alice', username: 'alice', groups: ['ops'] }, T0);
  const session = await store.createLoginSession(
    { id: randomUUID(), user_id: user.id, upstream: 'local', amr: ['pwd'], auth_time: T0, expires_at: T0 + 600 * MIN, client_ip: null, user_agent: null },
    T0,
  );
  const family = await store.createFamily(
    { id: randomUUID(), login_session_id: session.id, user_id: user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: session.expires_at, first_token_hash: hash(token) },
    T0,
    { kind: 'token.issued' },
  );
  return { user, session, family };
}

function expectUnavailable(outcome: PromiseSettledResult<unknown>, reason: StoreUnavailableError['reason']) {
  expect(outcome.status).toBe('rejected');
  const err = (outcome as PromiseRejectedResult).reason as unknown;
  expect(err, String(err)).toBeInstanceOf(StoreUnavailableError);
  expect((err as StoreUnavailableError).reason).toBe(reason);
}

describe('a database locked by another process', () => {
  it('refuses each write as busy within the bound while the event loop stays free, changes nothing, and writes once the lock is gone', async () => {
    const BOUND = 1000;
    const file = tmpFile();
    const store = await openSqliteStore(file, { busyTimeoutMs: BOUND, synchronous: 'normal', now: () => T0 });
    try {
      const { user, session, family } = await seed(store, 't0');
      const auditBefore = await store.listAudit({ limit: 100 });

      // Another process (a second connection) takes the write lock and keeps it.
      const holder = new Database(file);
      holder.exec('BEGIN IMMEDIATE');

      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const started = performance.now();
      const rotation = { tokenHash: hash('t0'), successorHash: hash('t1'), familyId: family.id, generation: 0 };
      const writes = [
        store.rotateRefreshToken(rotation, T0 + MIN, { kind: 'token.refreshed' }), // grouped write
        store.appendAudit({ kind: 'token.refresh_denied', family_id: family.id }, T0 + MIN), // grouped, same group
        store.revokeLoginSession(session.id, 'sign_out', T0 + MIN, { kind: 'session.logout' }), // a Kysely transaction
        store.upsertUser({ upstream: 'local', subject: 'alice', username: 'alice', groups: [] }, T0 + MIN), // a single statement
        store.probeWrite(T0 + MIN), // readiness, with its own shorter bound
      ];
      // Reads answer meanwhile: WAL readers never wait for the writer.
      expect((await store.findRefreshContext(hash('t0')))!.token.used_at).toBeNull();
      const outcomes = await Promise.allSettled(writes);
      const elapsed = performance.now() - started;
      lag.disable();

      for (const o of outcomes) expectUnavailable(o, 'busy');
      // Bounded: the writes waited for the lock up to the bound, not longer.
      expect(elapsed).toBeGreaterThanOrEqual(BOUND * 0.9);
      expect(elapsed).toBeLessThan(BOUND + 1500);
      // ...and they waited on the writer thread: the event loop never stalled.
      expect(lag.max / 1e6).toBeLessThan(BOUND / 5);

      // Nothing changed.
      const ctx = (await store.findRefreshContext(hash('t0')))!;
      expect(ctx.token.used_at).toBeNull();
      expect(ctx.session.revoked_at).toBeNull();
      expect(ctx.user.groups).toEqual(['ops']);
      expect(await store.findRefreshContext(hash('t1'))).toBeUndefined();
      expect(await store.listAudit({ limit: 100 })).toEqual(auditBefore);

      holder.exec('ROLLBACK');
      holder.close();

      // The same writes succeed now.
      expect(await store.rotateRefreshToken(rotation, T0 + 2 * MIN, { kind: 'token.refreshed' })).toBe('rotated');
      await store.appendAudit({ kind: 'token.refresh_denied', family_id: family.id }, T0 + 2 * MIN);
      expect(await store.revokeLoginSession(session.id, 'sign_out', T0 + 2 * MIN, { kind: 'session.logout' })).toBe(true);
      expect((await store.upsertUser({ upstream: 'local', subject: 'alice', username: 'alice', groups: [] }, T0 + 2 * MIN)).id).toBe(user.id);
      await store.probeWrite(T0 + 2 * MIN);
      expect((await store.listAudit({ limit: 100 })).map((e) => e.kind).slice(0, 3)).toEqual(['session.logout', 'token.refresh_denied', 'token.refreshed']);
    } finally {
      await store.close();
    }
  });

  it('with a bound of zero, writes when the database is free and refuses at once when it is locked', async () => {
    const file = tmpFile();
    const store = await openSqliteStore(file, { busyTimeoutMs: 0, synchronous: 'normal', now: () => T0 });
    try {
      const { family } = await seed(store, 'z0');
      // Many at once: they wait for each other in this process, not for a lock.
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.appendAudit({ kind: 'token.refresh_denied', request_id: `r${i}` }, T0)));
      const holder = new Database(file);
      holder.exec('BEGIN IMMEDIATE');
      const started = performance.now();
      const [r] = await Promise.allSettled([
        store.rotateRefreshToken({ tokenHash: hash('z0'), successorHash: hash('z1'), familyId: family.id, generation: 0 }, T0 + MIN, { kind: 'token.refreshed' }),
      ]);
      expect(performance.now() - started).toBeLessThan(500);
      expectUnavailable(r!, 'busy');
      holder.exec('ROLLBACK');
      holder.close();
      expect(await store.rotateRefreshToken({ tokenHash: hash('z0'), successorHash: hash('z1'), familyId: family.id, generation: 0 }, T0 + MIN, { kind: 'token.refreshed' })).toBe(
        'rotated',
      );
    } finally {
      await store.close();
    }
  });

  it('answers reads at once, on a connection that never waits on a lock', async () => {
    const file = tmpFile();
    const store = await openSqliteStore(file, { busyTimeoutMs: 2000, synchronous: 'normal', now: () => T0 });
    try {
      await seed(store, 'r0');
      const holder = new Database(file);
      holder.exec('BEGIN IMMEDIATE');
      holder.prepare("insert into kubegate_meta (name, value) values ('uncommitted', 'x')").run();
      const started = performance.now();
      expect((await store.findRefreshContext(hash('r0')))!.token.generation).toBe(0);
      expect(await store.listAudit({ limit: 10 })).toHaveLength(1);
      expect(performance.now() - started).toBeLessThan(100);
      holder.exec('ROLLBACK');
      holder.close();
    } finally {
      await store.close();
    }
  });
});

/**
 * Rotates the family's chain until a rotation fails; returns the failure and
 * the head that failed to rotate. Each success moves the head forward.
 */
async function rotateUntilFailure(store: SqliteStore, familyId: string, first: string, max = 5000) {
  let head = first;
  let generation = 0;
  for (let i = 0; i < max; i++) {
    const next = `${first}-${generation + 1}`;
    try {
      const r = await store.rotateRefreshToken(
        { tokenHash: hash(head), successorHash: hash(next), familyId, generation },
        T0 + MIN + i,
        { kind: 'token.refreshed', details: { generation: generation + 1 } },
      );
      expect(r).toBe('rotated');
    } catch (err) {
      return { err, head, generation, next };
    }
    head = next;
    generation++;
  }
  throw new Error(`no rotation failed in ${max} tries`);
}

async function expectNothingConsumed(store: SqliteStore, at: { head: string; generation: number; next: string }) {
  const ctx = (await store.findRefreshContext(hash(at.head)))!;
  expect(ctx.token.used_at).toBeNull();
  expect(ctx.family.generation).toBe(at.generation);
  expect(await store.findRefreshContext(hash(at.next))).toBeUndefined();
  // token.issued + one token.refreshed per successful rotation
  expect(await store.listAudit({ limit: 100_000, kind: 'token.refreshed' })).toHaveLength(at.generation);
}

describe('a full disk', () => {
  it('refuses the rotation that does not fit as full, consuming nothing; readiness fails; both work again once there is room (max_page_count)', async () => {
    const file = tmpFile();
    const store = await openSqliteStore(file, { synchronous: 'normal', now: () => T0 });
    try {
      const { family } = await seed(store, 'p0');
      const { used } = await store.testingSetMaxPageCount(null);
      await store.testingSetMaxPageCount(used + 2);

      const failed = await rotateUntilFailure(store, family.id, 'p0');
      expect(failed.err, String(failed.err)).toBeInstanceOf(StoreUnavailableError);
      expect((failed.err as StoreUnavailableError).reason).toBe('full');
      expect(failed.generation).toBeGreaterThan(0);
      await expectNothingConsumed(store, failed);
      // Tried again with an audit row in the same group: the group fails whole, nothing lands.
      const [again, audit] = await Promise.allSettled([
        store.rotateRefreshToken(
          { tokenHash: hash(failed.head), successorHash: hash(failed.next), familyId: family.id, generation: failed.generation },
          T0 + 2 * MIN,
          { kind: 'token.refreshed' },
        ),
        store.appendAudit({ kind: 'token.refresh_denied' }, T0 + 2 * MIN),
      ]);
      expectUnavailable(again!, 'full');
      expectUnavailable(audit!, 'full');
      await expectNothingConsumed(store, failed);
      expect(await store.listAudit({ limit: 10, kind: 'token.refresh_denied' })).toEqual([]);
      // Readiness sees it too.
      expectUnavailable((await Promise.allSettled([store.probeWrite(T0 + 2 * MIN)]))[0]!, 'full');

      // Room again: the very same rotation goes through, and readiness with it.
      await store.testingSetMaxPageCount(1_000_000);
      expect(
        await store.rotateRefreshToken(
          { tokenHash: hash(failed.head), successorHash: hash(failed.next), familyId: family.id, generation: failed.generation },
          T0 + 2 * MIN,
          { kind: 'token.refreshed' },
        ),
      ).toBe('rotated');
      await store.probeWrite(T0 + 2 * MIN);
      expect((await store.findRefreshContext(hash(failed.next)))!.family.generation).toBe(failed.generation + 1);
    } finally {
      await store.close();
    }
  });

  /** A real full file system: a 2 MiB tmpfs (needs root and mount rights; skipped where mounting is not allowed). */
  const mountPoint = path.join(tmp, 'tmpfs');
  let mounted = false;
  try {
    fs.mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mountPoint], { stdio: 'ignore' });
    mounted = true;
  } catch {
    // not allowed here
  }
  afterAll(() => {
    if (mounted) execFileSync('umount', [mountPoint], { stdio: 'ignore' });
  });

  it.runIf(mounted)('refuses the rotation as full when the file system has no space left (ENOSPC), consuming nothing, and recovers when space is freed', async () => {
    const file = path.join(mountPoint, 'kubegate.db');
    const store = await openSqliteStore(file, { synchronous: 'full', now: () => T0 });
    const filler = path.join(mountPoint, 'filler');
    try {
      const { family } = await seed(store, 'f0');
      // Take every free byte.
      const fd = fs.openSync(filler, 'w');
      const chunk = Buffer.alloc(16 * 1024, 1);
      try {
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      const failed = await rotateUntilFailure(store, family.id, 'f0');
      expect(failed.err, String(failed.err)).toBeInstanceOf(StoreUnavailableError);
      expect((failed.err as StoreUnavailableError).reason).toBe('full');
      await expectNothingConsumed(store, failed);

      fs.rmSync(filler);
      expect(
        await store.rotateRefreshToken(
          { tokenHash: hash(failed.head), successorHash: hash(failed.next), familyId: family.id, generation: failed.generation },
          T0 + 2 * MIN,
          { kind: 'token.refreshed' },
        ),
      ).toBe('rotated');
      await store.probeWrite(T0 + 2 * MIN);
    } finally {
      await store.close();
      fs.rmSync(filler, { force: true });
    }
  });
});

describe('a closed store', () => {
  it('refuses every call as closed', async () => {
    const store = await openSqliteStore(tmpFile(), { synchronous: 'normal', now: () => T0 });
    const { session, family } = await seed(store, 'c0');
    await store.close();
    const calls = await Promise.allSettled([
      store.findRefreshContext(hash('c0')),
      store.listAudit({ limit: 1 }),
      store.rotateRefreshToken({ tokenHash: hash('c0'), successorHash: hash('c1'), familyId: family.id, generation: 0 }, T0, { kind: 'token.refreshed' }),
      store.appendAudit({ kind: 'session.login' }, T0),
      store.revokeLoginSession(session.id, 'sign_out', T0, { kind: 'session.logout' }),
      store.upsertUser({ upstream: 'local', subject: 'bob', username: 'bob', groups: [] }, T0),
      store.probeWrite(T0),
    ]);
    for (const c of calls) expectUnavailable(c, 'closed');
    await store.close(); // twice is fine
  });
});
