/**
 * The store contract as tests: every backend runs this same suite (SQLite
 * always, PostgreSQL when a URL is given), as Dex's storage/conformance does.
 *
 * `open` must return an empty, migrated store, and a different one on each
 * call (a fresh in-memory database, a new file, a new schema). Times are an
 * injected clock: no test reads the real time.
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyEncryptionKey } from '../crypto/kek';
import { KeyManager, type KeyPolicy } from '../oidc/keys';
import type { AuditInput, LoginSession, SigningKeyRow, Store, User, UserProfile } from './types';

const T0 = Date.UTC(2031, 0, 1);
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');

const profile = (over: Partial<UserProfile> = {}): UserProfile => ({
  upstream: 'corp',
  subject: 'subject-alice',
  username: 'alice',
  email: 'alice@example.com',
  name: 'Alice',
  groups: ['ops'],
  ...over,
});

const keyRow = (kid: string, now: number): SigningKeyRow => ({
  kid,
  alg: 'ES256',
  private_jwk: JSON.stringify({ kid, d: 'private' }),
  public_jwk: JSON.stringify({ kid }),
  created_at: now,
  activates_at: now,
  retired_at: null,
  expires_at: null,
  revoked_at: null,
});

/**
 * `openReplicas(n)`: n stores on ONE fresh, migrated database, each with its
 * own connections (a file opened n times, a schema through n pools), as n
 * replicas hold it; closing each is the caller's job. Absent (`:memory:`,
 * which no second connection can see), the replica tests share one store,
 * which still races their reads and writes.
 */
export function runStoreConformance(name: string, open: () => Promise<Store>, openReplicas?: (n: number) => Promise<Store[]>): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    /** n handles on one database (the suite's store when the backend has no second connection). */
    async function replicas(n: number, fn: (stores: Store[]) => Promise<void>): Promise<void> {
      const stores = openReplicas ? await openReplicas(n) : Array.from({ length: n }, () => store);
      try {
        await fn(stores);
      } finally {
        if (openReplicas) await Promise.all(stores.map((s) => s.close()));
      }
    }

    async function session(over: Partial<LoginSession> = {}, user?: User, now = T0): Promise<{ user: User; session: LoginSession }> {
      const u = user ?? (await store.upsertUser(profile(), now));
      const s = await store.createLoginSession(
        {
          id: randomUUID(),
          user_id: u.id,
          upstream: u.upstream,
          amr: ['pwd', 'mfa'],
          auth_time: now - 1000,
          expires_at: now + 12 * 60 * MIN,
          client_ip: '192.0.2.1',
          user_agent: 'Mozilla/5.0',
          ...over,
        },
        now,
      );
      return { user: u, session: s };
    }

    async function family(s: { user: User; session: LoginSession }, token: string, now = T0, cluster = 'prod') {
      return store.createFamily(
        {
          id: randomUUID(),
          login_session_id: s.session.id,
          user_id: s.user.id,
          cluster,
          client_id: cluster === 'prod' ? 'kubernetes' : cluster,
          origin: 'page',
          expires_at: s.session.expires_at,
          first_token_hash: hash(token),
        },
        now,
        { kind: 'token.issued', username: s.user.username, client_ip: '192.0.2.9', details: { via: 'page' } },
      );
    }

    const audit = (kind: AuditInput['kind'], over: Partial<AuditInput> = {}): AuditInput => ({ kind, ...over });

    it('answers ping, and migrating again changes nothing', async () => {
      await store.ping();
      const s = await session();
      await store.migrate();
      await store.migrate();
      expect((await store.getLoginSession(s.session.id))?.session).toEqual(s.session);
      await store.ping();
    });

    describe('users', () => {
      it('keeps a stable id across logins and updates the profile and groups', async () => {
        const first = await store.upsertUser(profile(), T0);
        expect(first).toMatchObject({ upstream: 'corp', subject: 'subject-alice', username: 'alice', groups: ['ops'], created_at: T0, updated_at: T0 });
        expect(first.id).not.toContain('alice');

        const again = await store.upsertUser(
          profile({ username: 'alice.smith', email: 'alice.smith@example.com', name: null, groups: ['ops', 'dba'] }),
          T0 + MIN,
        );
        expect(again.id).toBe(first.id);
        expect(again).toMatchObject({ username: 'alice.smith', email: 'alice.smith@example.com', name: null, groups: ['ops', 'dba'], created_at: T0, updated_at: T0 + MIN });
        expect(await store.getUser(first.id)).toEqual(again);

        // Losing every group is an update too.
        expect((await store.upsertUser(profile({ groups: [] }), T0 + 2 * MIN)).groups).toEqual([]);
        expect((await store.getUser(first.id))!.groups).toEqual([]);
      });

      it('keys users by upstream and subject, never by name or email', async () => {
        const a = await store.upsertUser(profile(), T0);
        const otherUpstream = await store.upsertUser(profile({ upstream: 'local' }), T0);
        const sameEmail = await store.upsertUser(profile({ subject: 'subject-mallory', username: 'alice' }), T0);
        expect(new Set([a.id, otherUpstream.id, sameEmail.id]).size).toBe(3);
        expect(await store.getUser('no-such-user')).toBeUndefined();
      });

      it('counts a sign-in as a fresh upstream check and keeps the sealed re-check state out of User', async () => {
        const first = await store.upsertUser(profile(), T0, { recheckState: 'sealed-1' });
        expect(first).toMatchObject({ checked_at: T0, check_failing_since: null });
        expect(first).not.toHaveProperty('recheck_state');
        expect(await store.getRecheckState(first.id)).toBe('sealed-1');
        await store.recordRecheck(first.id, { status: 'unavailable' }, T0 + MIN, audit('user.recheck_failed'));
        // A later sign-in without a state keeps the stored one; null clears it.
        const again = await store.upsertUser(profile(), T0 + 2 * MIN);
        expect(again).toMatchObject({ checked_at: T0 + 2 * MIN, check_failing_since: null });
        expect(await store.getRecheckState(first.id)).toBe('sealed-1');
        await store.upsertUser(profile(), T0 + 3 * MIN, { recheckState: 'sealed-2' });
        expect(await store.getRecheckState(first.id)).toBe('sealed-2');
        await store.upsertUser(profile(), T0 + 4 * MIN, { recheckState: null });
        expect(await store.getRecheckState(first.id)).toBeNull();
        expect(await store.getRecheckState('no-such-user')).toBeNull();

        const s = await session({}, again);
        expect((await store.getLoginSession(s.session.id))!.user).not.toHaveProperty('recheck_state');
        await family(s, 'kgr_state');
        const ctx = await store.findRefreshContext(hash('kgr_state'));
        expect(ctx!.user).toEqual(await store.getUser(first.id));
        expect(ctx!.user).toMatchObject({ checked_at: T0 + 4 * MIN, check_failing_since: null });
      });

      it('records a re-check that confirmed the person: new profile and groups, checked now, failing cleared, with its audit event', async () => {
        const u = await store.upsertUser(profile({ groups: ['ops', 'dba'] }), T0, { recheckState: 'sealed-1' });
        await store.recordRecheck(u.id, { status: 'unavailable' }, T0 + MIN, audit('user.recheck_failed'));
        const after = await store.recordRecheck(
          u.id,
          { status: 'active', profile: { username: 'alice.smith', email: null, name: 'Alice S.', groups: ['ops'] } },
          T0 + 2 * MIN,
          audit('user.rechecked', { username: 'alice.smith', details: { result: 'active', groups_removed: ['dba'] } }),
        );
        expect(after).toEqual({
          ...u,
          username: 'alice.smith',
          email: null,
          name: 'Alice S.',
          groups: ['ops'],
          updated_at: T0 + 2 * MIN,
          checked_at: T0 + 2 * MIN,
          check_failing_since: null,
        });
        expect(await store.getUser(u.id)).toEqual(after);
        // No state given: the stored one stays; a new one replaces it; null clears it.
        expect(await store.getRecheckState(u.id)).toBe('sealed-1');
        await store.recordRecheck(u.id, { status: 'active', profile: profile(), recheckState: 'sealed-2' }, T0 + 3 * MIN, audit('user.rechecked'));
        expect(await store.getRecheckState(u.id)).toBe('sealed-2');
        await store.recordRecheck(u.id, { status: 'active', profile: profile(), recheckState: null }, T0 + 4 * MIN, audit('user.rechecked'));
        expect(await store.getRecheckState(u.id)).toBeNull();

        const [event] = await store.listAudit({ limit: 100, userId: u.id, kind: 'user.rechecked' });
        expect(event).toMatchObject({ at: T0 + 4 * MIN, user_id: u.id });
        const first = (await store.listAudit({ limit: 100, userId: u.id, kind: 'user.rechecked' })).at(-1);
        expect(first).toMatchObject({ at: T0 + 2 * MIN, username: 'alice.smith', details: { result: 'active', groups_removed: ['dba'] } });
      });

      it('keeps the first failure time while the upstream stays unavailable, and clears it once it answers', async () => {
        const u = await store.upsertUser(profile(), T0);
        const down = await store.recordRecheck(u.id, { status: 'unavailable' }, T0 + 5 * MIN, audit('user.recheck_failed'));
        expect(down).toEqual({ ...u, check_failing_since: T0 + 5 * MIN });
        const still = await store.recordRecheck(u.id, { status: 'unavailable' }, T0 + 9 * MIN, audit('user.recheck_failed'));
        // Nothing else changes: the profile and the last successful check stay.
        expect(still).toEqual({ ...u, check_failing_since: T0 + 5 * MIN });
        const back = await store.recordRecheck(u.id, { status: 'checked' }, T0 + 12 * MIN, audit('user.rechecked'));
        expect(back).toEqual({ ...u, checked_at: T0 + 12 * MIN, check_failing_since: null });
        expect((await store.listAudit({ limit: 100, userId: u.id })).map((e) => [e.kind, e.at])).toEqual([
          ['user.rechecked', T0 + 12 * MIN],
          ['user.recheck_failed', T0 + 9 * MIN],
          ['user.recheck_failed', T0 + 5 * MIN],
        ]);
      });

      it('records nothing for a person it does not know', async () => {
        expect(await store.recordRecheck('no-such-user', { status: 'checked' }, T0, audit('user.rechecked'))).toBeUndefined();
        expect(await store.listAudit({ limit: 10 })).toEqual([]);
      });
    });

    describe('login sessions', () => {
      it('stores a session with its user, and lists active ones newest first', async () => {
        const { user, session: s1 } = await session();
        expect(s1).toMatchObject({ user_id: user.id, amr: ['pwd', 'mfa'], auth_time: T0 - 1000, created_at: T0, revoked_at: null, revoke_reason: null });
        expect(await store.getLoginSession(s1.id)).toEqual({ session: s1, user });
        expect(await store.getLoginSession('nope')).toBeUndefined();

        const { session: s2 } = await session({ expires_at: T0 + 2 * MIN }, user, T0 + MIN);
        const { session: s3 } = await session({}, user, T0 + 2 * MIN);
        const other = await session({}, await store.upsertUser(profile({ subject: 'bob', username: 'bob' }), T0), T0 + 3 * MIN);
        await store.revokeLoginSession(s3.id, 'sign_out', T0 + 3 * MIN, audit('session.logout'));

        expect((await store.listLoginSessions({ userId: user.id })).map((s) => s.id)).toEqual([s3.id, s2.id, s1.id]);
        // Active at a time: not revoked, and expiring strictly later.
        expect((await store.listLoginSessions({ userId: user.id, activeAt: T0 + 2 * MIN - 1 })).map((s) => s.id)).toEqual([s2.id, s1.id]);
        expect((await store.listLoginSessions({ userId: user.id, activeAt: T0 + 2 * MIN })).map((s) => s.id)).toEqual([s1.id]);
        expect((await store.listLoginSessions({})).map((s) => s.id)).toEqual([other.session.id, s3.id, s2.id, s1.id]);
      });

      it('revokes a session with all its families, once, with one audit event counting them', async () => {
        const a = await session();
        const b = await session({}, a.user);
        const f1 = await family(a, 'a1');
        const f2 = await family(a, 'a2', T0, 'staging');
        const f3 = await family(a, 'a3');
        const other = await family(b, 'b1');
        await store.revokeFamily(f3.id, 'revoked_by_admin', T0 + MIN, audit('family.revoked'));

        const now = T0 + 5 * MIN;
        expect(await store.revokeLoginSession(a.session.id, 'sign_out', now, audit('session.logout', { user_id: a.user.id, details: { via: 'button' } }))).toBe(true);
        expect((await store.getLoginSession(a.session.id))!.session).toMatchObject({ revoked_at: now, revoke_reason: 'sign_out' });
        for (const f of [f1, f2]) expect(await store.getFamily(f.id)).toMatchObject({ revoked_at: now, revoke_reason: 'sign_out' });
        // An already revoked family keeps its first reason and time.
        expect(await store.getFamily(f3.id)).toMatchObject({ revoked_at: T0 + MIN, revoke_reason: 'revoked_by_admin' });
        expect(await store.getFamily(other.id)).toMatchObject({ revoked_at: null });

        const events = await store.listAudit({ limit: 10, kind: 'session.logout' });
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ at: now, session_id: a.session.id, user_id: a.user.id, details: { via: 'button', reason: 'sign_out', families_revoked: 2 } });

        // Idempotent: a second revoke changes nothing and writes nothing.
        expect(await store.revokeLoginSession(a.session.id, 'revoked_by_admin', now + MIN, audit('session.revoked'))).toBe(false);
        expect((await store.getLoginSession(a.session.id))!.session).toMatchObject({ revoked_at: now, revoke_reason: 'sign_out' });
        expect(await store.listAudit({ limit: 10, kind: 'session.revoked' })).toEqual([]);
        expect(await store.revokeLoginSession('no-such-session', 'revoked_by_user', now, audit('session.revoked'))).toBe(false);
      });
    });

    describe('audit trail', () => {
      it('filters by username, cluster, kind and time range, and pages newest first with `before`', async () => {
        await store.appendAudit(audit('session.login', { username: 'alice' }), T0);
        await store.appendAudit(audit('token.issued', { username: 'alice', cluster: 'prod' }), T0 + MIN);
        await store.appendAudit(audit('token.issued', { username: 'bob', cluster: 'prod' }), T0 + 2 * MIN);
        await store.appendAudit(audit('token.issued', { username: 'alice', cluster: 'staging' }), T0 + 3 * MIN);
        await store.appendAudit(audit('family.revoked', { username: 'alice', cluster: 'prod', details: { by: 'root' } }), T0 + 4 * MIN);
        const at = (events: { at: number }[]) => events.map((e) => (e.at - T0) / MIN);

        expect(at(await store.listAudit({ limit: 10, username: 'alice' }))).toEqual([4, 3, 1, 0]);
        expect(at(await store.listAudit({ limit: 10, cluster: 'prod' }))).toEqual([4, 2, 1]);
        expect(at(await store.listAudit({ limit: 10, username: 'alice', cluster: 'prod', kind: 'token.issued' }))).toEqual([1]);
        // since inclusive, until exclusive
        expect(at(await store.listAudit({ limit: 10, since: T0 + MIN, until: T0 + 3 * MIN }))).toEqual([2, 1]);
        expect(await store.listAudit({ limit: 10, username: 'nobody' })).toEqual([]);

        const first = await store.listAudit({ limit: 2 });
        expect(at(first)).toEqual([4, 3]);
        const second = await store.listAudit({ limit: 2, before: first.at(-1)!.id });
        expect(at(second)).toEqual([2, 1]);
        expect(at(await store.listAudit({ limit: 2, before: second.at(-1)!.id }))).toEqual([0]);
        expect(at(await store.listAudit({ limit: 10, cluster: 'prod', before: first[0]!.id }))).toEqual([2, 1]);
      });
    });

    describe('families and refresh tokens', () => {
      it('creates a family with its generation-0 token and an audit event', async () => {
        const s = await session();
        const f = await family(s, 'tok-0');
        expect(f).toMatchObject({ login_session_id: s.session.id, user_id: s.user.id, cluster: 'prod', client_id: 'kubernetes', created_at: T0, last_used_at: T0, expires_at: s.session.expires_at, generation: 0, revoked_at: null });
        expect(await store.getFamily(f.id)).toEqual(f);

        const ctx = await store.findRefreshContext(hash('tok-0'));
        expect(ctx).toEqual({ token: { hash: hash('tok-0'), family_id: f.id, generation: 0, created_at: T0, used_at: null }, family: f, session: s.session, user: s.user });
        expect(await store.findRefreshContext(hash('other'))).toBeUndefined();

        const events = await store.listAudit({ limit: 10, familyId: f.id });
        expect(events).toEqual([
          expect.objectContaining({ kind: 'token.issued', at: T0, family_id: f.id, session_id: s.session.id, user_id: s.user.id, cluster: 'prod', username: 'alice', client_ip: '192.0.2.9', details: { via: 'page' } }),
        ]);
        expect((await store.listFamilies({ loginSessionId: s.session.id })).map((x) => x.id)).toEqual([f.id]);
        expect((await store.listFamilies({ userId: s.user.id })).map((x) => x.id)).toEqual([f.id]);
        expect(await store.listFamilies({ userId: 'nobody' })).toEqual([]);
      });

      it('counts the families that could still refresh: not revoked, not expired, used within the idle window', async () => {
        expect(await store.countActiveFamilies(T0, 0)).toBe(0);
        const s = await session();
        const live = await family(s, 'active-live');
        const revoked = await family(s, 'active-revoked');
        await family(s, 'active-idle', T0 - 30 * MIN);
        const other = await session({ expires_at: T0 + 2 * MIN });
        await family(other, 'active-expiring', T0, 'stage');
        await store.revokeFamily(revoked.id, 'revoked_by_user', T0, audit('family.revoked'));
        const idleSince = T0 - 15 * MIN;
        expect(await store.countActiveFamilies(T0, idleSince)).toBe(2);
        // A rotation is a use: it moves last_used_at into the window.
        await store.rotateRefreshToken({ tokenHash: hash('active-idle'), successorHash: hash('active-idle-1'), familyId: (await store.findRefreshContext(hash('active-idle')))!.family.id, generation: 0 }, T0, audit('token.refreshed'));
        expect(await store.countActiveFamilies(T0, idleSince)).toBe(3);
        // Past the second session's expiry only the first session's two remain.
        expect(await store.countActiveFamilies(T0 + 2 * MIN, idleSince)).toBe(2);
        expect(live.revoked_at).toBeNull();
      });

      it('writes nothing when a family cannot be created (atomic)', async () => {
        const s = await session();
        await family(s, 'dup');
        const before = await store.listAudit({ limit: 100 });
        const id = randomUUID();
        await expect(
          store.createFamily(
            { id, login_session_id: s.session.id, user_id: s.user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: T0 + MIN, first_token_hash: hash('dup') },
            T0 + MIN,
            audit('token.issued'),
          ),
        ).rejects.toThrow();
        expect(await store.getFamily(id)).toBeUndefined();
        expect(await store.listAudit({ limit: 100 })).toEqual(before);
      });

      it('rotates as a compare-and-set: the same token rotates once', async () => {
        const s = await session();
        const f = await family(s, 't0');
        const now = T0 + MIN;
        const rotate = (successor: string, at: number) =>
          store.rotateRefreshToken({ tokenHash: hash('t0'), successorHash: hash(successor), familyId: f.id, generation: 0 }, at, audit('token.refreshed', { user_id: s.user.id }));

        expect(await rotate('t1', now)).toBe('rotated');
        expect(await rotate('t1-evil', now + 1)).toBe('already_used');

        expect(await store.getFamily(f.id)).toMatchObject({ generation: 1, last_used_at: now });
        expect((await store.findRefreshContext(hash('t0')))!.token).toMatchObject({ generation: 0, used_at: now });
        expect((await store.findRefreshContext(hash('t1')))!.token).toMatchObject({ generation: 1, used_at: null, created_at: now, family_id: f.id });
        expect(await store.findRefreshContext(hash('t1-evil'))).toBeUndefined();
        const refreshed = await store.listAudit({ limit: 10, kind: 'token.refreshed' });
        expect(refreshed).toHaveLength(1);
        expect(refreshed[0]).toMatchObject({ family_id: f.id, at: now });

        // The chain goes on from the head.
        expect(await store.rotateRefreshToken({ tokenHash: hash('t1'), successorHash: hash('t2'), familyId: f.id, generation: 1 }, now + MIN, audit('token.refreshed'))).toBe('rotated');
        expect(await store.getFamily(f.id)).toMatchObject({ generation: 2, last_used_at: now + MIN });
      });

      it('writes the rotation audit row with every field the caller gave', async () => {
        const s = await session();
        const f = await family(s, 'aud0');
        const event = audit('token.refreshed', {
          user_id: s.user.id,
          username: s.user.username,
          cluster: 'prod',
          session_id: s.session.id,
          client_ip: '192.0.2.7',
          request_id: 'req-7',
          details: { generation: 1, note: 'ünïcode "quoted"' },
        });
        expect(await store.rotateRefreshToken({ tokenHash: hash('aud0'), successorHash: hash('aud1'), familyId: f.id, generation: 0 }, T0 + MIN, event)).toBe('rotated');
        expect(await store.listAudit({ limit: 10, kind: 'token.refreshed' })).toEqual([
          {
            id: expect.any(String),
            at: T0 + MIN,
            kind: 'token.refreshed',
            user_id: s.user.id,
            username: s.user.username,
            cluster: 'prod',
            family_id: f.id,
            session_id: s.session.id,
            client_ip: '192.0.2.7',
            request_id: 'req-7',
            details: { generation: 1, note: 'ünïcode "quoted"' },
          },
        ]);
      });

      it('writes nothing of a rotation that fails part-way (its successor cannot be stored)', async () => {
        const s = await session();
        const f = await family(s, 'part0');
        // A successor whose hash is taken (by another family's token): the insert fails after the compare-and-set matched.
        await family(s, 'taken');
        const failed = await store
          .rotateRefreshToken({ tokenHash: hash('part0'), successorHash: hash('taken'), familyId: f.id, generation: 0 }, T0 + MIN, audit('token.refreshed'))
          .then(
            () => undefined,
            (err: unknown) => err,
          );
        expect(failed).toBeInstanceOf(Error);
        expect(await store.getFamily(f.id)).toMatchObject({ generation: 0, last_used_at: T0 });
        expect((await store.findRefreshContext(hash('part0')))!.token.used_at).toBeNull();
        expect(await store.listAudit({ limit: 10, kind: 'token.refreshed' })).toEqual([]);
        // And the token still rotates.
        expect(
          await store.rotateRefreshToken({ tokenHash: hash('part0'), successorHash: hash('part1'), familyId: f.id, generation: 0 }, T0 + 2 * MIN, audit('token.refreshed')),
        ).toBe('rotated');
      });

      it('lets exactly one of two racing rotations of a token win', async () => {
        const s = await session();
        const f = await family(s, 'race');
        const results = await Promise.all(
          ['a', 'b', 'c'].map((x) =>
            store.rotateRefreshToken({ tokenHash: hash('race'), successorHash: hash(`race-${x}`), familyId: f.id, generation: 0 }, T0 + MIN, audit('token.refreshed')),
          ),
        );
        expect(results.filter((r) => r === 'rotated')).toHaveLength(1);
        expect(results.filter((r) => r === 'already_used')).toHaveLength(2);
        expect((await store.getFamily(f.id))!.generation).toBe(1);
        expect(await store.listAudit({ limit: 10, kind: 'token.refreshed' })).toHaveLength(1);
      });

      it('does not rotate a token whose family was revoked after it was read (reuse detected meanwhile)', async () => {
        const s = await session();
        const f = await family(s, 'late0');
        expect((await store.findRefreshContext(hash('late0')))!.family.revoked_at).toBeNull();
        await store.revokeFamily(f.id, 'refresh_token_reuse', T0 + MIN, audit('token.reuse_detected'));
        expect(
          await store.rotateRefreshToken({ tokenHash: hash('late0'), successorHash: hash('late1'), familyId: f.id, generation: 0 }, T0 + MIN, audit('token.refreshed')),
        ).toBe('already_used');
        expect(await store.findRefreshContext(hash('late1'))).toBeUndefined();
        expect(await store.getFamily(f.id)).toMatchObject({ generation: 0, revoke_reason: 'refresh_token_reuse' });
        expect(await store.listAudit({ limit: 10, kind: 'token.refreshed' })).toEqual([]);
      });

      it('rotates only the head: a stale generation changes nothing', async () => {
        const s = await session();
        const f = await family(s, 'head0');
        expect(
          await store.rotateRefreshToken({ tokenHash: hash('head0'), successorHash: hash('head1'), familyId: f.id, generation: 0 }, T0 + MIN, audit('token.refreshed')),
        ).toBe('rotated');
        expect(
          await store.rotateRefreshToken({ tokenHash: hash('head0'), successorHash: hash('other1'), familyId: f.id, generation: 0 }, T0 + 2 * MIN, audit('token.refreshed')),
        ).toBe('already_used');
        expect((await store.findRefreshContext(hash('head1')))!.token.used_at).toBeNull();
        expect(await store.getFamily(f.id)).toMatchObject({ generation: 1, last_used_at: T0 + MIN });
      });

      it('revokes a family idempotently, keeping the first reason', async () => {
        const s = await session();
        const f = await family(s, 'r0');
        expect(await store.revokeFamily(f.id, 'refresh_token_reuse', T0 + MIN, audit('token.reuse_detected', { details: { generation: 0 } }))).toBe(true);
        expect(await store.revokeFamily(f.id, 'revoked_by_admin', T0 + 2 * MIN, audit('family.revoked'))).toBe(false);
        expect(await store.getFamily(f.id)).toMatchObject({ revoked_at: T0 + MIN, revoke_reason: 'refresh_token_reuse' });
        expect((await store.findRefreshContext(hash('r0')))!.family.revoked_at).toBe(T0 + MIN);
        expect(await store.listAudit({ limit: 10, familyId: f.id })).toEqual([
          expect.objectContaining({ kind: 'token.reuse_detected', details: { generation: 0, reason: 'refresh_token_reuse' } }),
          expect.objectContaining({ kind: 'token.issued' }),
        ]);
        expect(await store.revokeFamily('no-such-family', 'revoked_by_user', T0, audit('family.revoked'))).toBe(false);
      });

      it('shows a revoked session in the refresh context', async () => {
        const s = await session();
        await family(s, 'ctx');
        await store.revokeLoginSession(s.session.id, 'sign_out', T0 + MIN, audit('session.logout'));
        const ctx = await store.findRefreshContext(hash('ctx'));
        expect(ctx!.session).toMatchObject({ revoked_at: T0 + MIN, revoke_reason: 'sign_out' });
        expect(ctx!.family).toMatchObject({ revoked_at: T0 + MIN, revoke_reason: 'sign_out' });
      });
    });

    describe('pruning', () => {
      const DAY = 24 * 60 * MIN;
      const RETAIN = 90 * DAY;
      /** Chunks of `limit` until nothing is left; returns the totals and how many chunks it took. */
      async function pruneAll(now: number, limit = 1000) {
        const total = { tokens: 0, families: 0, sessions: 0, audit: 0 };
        let chunks = 0;
        for (;;) {
          const c = await store.prune({ now, retainAfter: now - RETAIN, limit });
          chunks++;
          for (const k of Object.keys(total) as (keyof typeof total)[]) {
            expect(c[k]).toBeLessThanOrEqual(limit);
            total[k] += c[k];
          }
          if (Object.values(c).every((n) => n < limit) || chunks > 100) return { total, chunks };
        }
      }
      const rotate = (familyId: string, from: string, to: string, generation: number, at: number) =>
        store.rotateRefreshToken({ tokenHash: hash(from), successorHash: hash(to), familyId, generation }, at, audit('token.refreshed'));

      it('deletes every token of an ended family, and none of a live one: spent tokens stay to detect reuse', async () => {
        const s = await session();
        const live = await family(s, 'live-0');
        await rotate(live.id, 'live-0', 'live-1', 0, T0 + MIN);
        await rotate(live.id, 'live-1', 'live-2', 1, T0 + 2 * MIN);
        const revoked = await family(s, 'rev-0');
        await rotate(revoked.id, 'rev-0', 'rev-1', 0, T0 + MIN);
        await store.revokeFamily(revoked.id, 'revoked_by_user', T0 + 3 * MIN, audit('family.revoked'));
        const short = await session({ expires_at: T0 + 5 * MIN }, s.user);
        const expired = await family(short, 'exp-0');
        const signedOut = await session({}, s.user);
        await family(signedOut, 'out-0');
        await store.revokeLoginSession(signedOut.session.id, 'sign_out', T0 + 4 * MIN, audit('session.logout'));

        const now = T0 + 10 * MIN;
        const { total, chunks } = await pruneAll(now, 1);
        expect(total).toEqual({ tokens: 4, families: 0, sessions: 0, audit: 0 });
        expect(chunks).toBeGreaterThanOrEqual(4); // one token per chunk
        for (const t of ['rev-0', 'rev-1', 'exp-0', 'out-0']) expect(await store.findRefreshContext(hash(t)), t).toBeUndefined();
        // The live family keeps its spent tokens (marked used) and its head.
        expect((await store.findRefreshContext(hash('live-0')))!.token.used_at).toBe(T0 + MIN);
        expect((await store.findRefreshContext(hash('live-1')))!.token.used_at).toBe(T0 + 2 * MIN);
        expect((await store.findRefreshContext(hash('live-2')))!.token.used_at).toBeNull();
        // Ended families and their sessions stay listed within the retention.
        expect(await store.getFamily(revoked.id)).toMatchObject({ revoke_reason: 'revoked_by_user' });
        expect(await store.getFamily(expired.id)).toBeDefined();

        // A family that ends after a complete pass is found by the next one.
        await store.revokeFamily(live.id, 'refresh_token_reuse', now + MIN, audit('token.reuse_detected'));
        expect((await pruneAll(now + 2 * MIN)).total.tokens).toBe(3);
        expect(await store.findRefreshContext(hash('live-0'))).toBeUndefined();
      });

      it('deletes audit events, and families and sign-ins that ended, once older than the retention; keeps the rest', async () => {
        const old = await session({ expires_at: T0 + 60 * MIN });
        const oldFamily = await family(old, 'old-0');
        const revokedLongAgo = await session({}, old.user);
        await family(revokedLongAgo, 'rla-0');
        await store.revokeLoginSession(revokedLongAgo.session.id, 'sign_out', T0 + MIN, audit('session.logout'));
        await store.appendAudit(audit('session.login', { request_id: 'old' }), T0);

        const now = T0 + RETAIN + 2 * DAY;
        const recent = await session({ expires_at: now + 60 * MIN }, old.user, now - DAY);
        const recentFamily = await family(recent, 'new-0', now - DAY);
        // Ended, but within the retention: kept for the Sessions page and the audit trail.
        const endedRecently = await session({ expires_at: now - DAY + MIN }, old.user, now - DAY);
        await family(endedRecently, 'er-0', now - DAY);
        await store.appendAudit(audit('session.login', { request_id: 'recent' }), now - DAY);

        const { total } = await pruneAll(now, 1);
        // Four audit events before the cutoff (two issued, a sign-out, a login); the tokens go with their families or before.
        expect({ ...total, tokens: undefined }).toEqual({ families: 2, sessions: 2, audit: 4 });
        for (const t of ['old-0', 'rla-0', 'er-0']) expect(await store.findRefreshContext(hash(t)), t).toBeUndefined();
        expect(await store.getFamily(oldFamily.id)).toBeUndefined();
        expect(await store.getLoginSession(old.session.id)).toBeUndefined();
        expect(await store.getLoginSession(revokedLongAgo.session.id)).toBeUndefined();
        expect(await store.getLoginSession(endedRecently.session.id)).toBeDefined();
        expect(await store.getFamily(recentFamily.id)).toBeDefined();
        expect((await store.findRefreshContext(hash('new-0')))!.token.used_at).toBeNull();
        const left = await store.listAudit({ limit: 100 });
        expect(left.every((e) => e.at >= now - RETAIN)).toBe(true);
        expect(left.map((e) => e.request_id)).toContain('recent');
        // Nothing more to do.
        expect((await pruneAll(now)).total).toEqual({ tokens: 0, families: 0, sessions: 0, audit: 0 });
      });
    });

    describe('restore reset', () => {
      it('revokes every sign-in and credential as restored, withdraws every signing key, and audits it once', async () => {
        const a = await session();
        const f1 = await family(a, 'x0');
        const b = await session({}, a.user);
        const f2 = await family(b, 'y0');
        await store.revokeFamily(f2.id, 'revoked_by_user', T0 + MIN, audit('family.revoked'));
        await store.activateSigningKey(keyRow('k1', T0), T0 + 99 * MIN, T0);
        const now = T0 + 5 * MIN;
        expect(await store.markRestored(now, { reason: 'restore_command' })).toEqual({ sessions_revoked: 2, families_revoked: 1, keys_withdrawn: 1 });
        expect((await store.findRefreshContext(hash('x0')))!.family).toMatchObject({ revoked_at: now, revoke_reason: 'restored' });
        expect((await store.getLoginSession(a.session.id))!.session).toMatchObject({ revoked_at: now, revoke_reason: 'restored' });
        // An earlier revocation keeps its reason.
        expect(await store.getFamily(f2.id)).toMatchObject({ revoke_reason: 'revoked_by_user' });
        expect((await store.listSigningKeys()).map((k) => k.revoked_at)).toEqual([now]);
        expect(await store.listAudit({ limit: 10, kind: 'store.restored' })).toEqual([
          expect.objectContaining({ at: now, details: { reason: 'restore_command', sessions_revoked: 2, families_revoked: 1, keys_withdrawn: 1 } }),
        ]);
        void f1;
      });
    });

    it('proves it can write (readiness) without leaving anything behind', async () => {
      const before = await store.listAudit({ limit: 10 });
      await store.probeWrite(T0);
      await store.probeWrite(T0 + 1);
      expect(await store.listAudit({ limit: 10 })).toEqual(before);
    });

    describe('signing keys', () => {
      it('activates a key, retiring the current one until its expiry, and deletes only expired retired keys', async () => {
        expect(await store.listSigningKeys()).toEqual([]);
        await store.activateSigningKey(keyRow('k1', T0), T0 + 99 * MIN, T0);
        expect(await store.listSigningKeys()).toEqual([keyRow('k1', T0)]);

        const t1 = T0 + 60 * MIN;
        await store.activateSigningKey(keyRow('k2', t1), t1 + 10 * MIN, t1);
        const keys = await store.listSigningKeys();
        expect(keys.map((k) => [k.kid, k.retired_at, k.expires_at])).toEqual([
          ['k2', null, null],
          ['k1', t1, t1 + 10 * MIN],
        ]);
        expect(keys[0]!.private_jwk).toBe(keyRow('k2', t1).private_jwk);
        expect((await store.listAudit({ limit: 10, kind: 'key.created' })).map((e) => [e.details.kid, e.details.retired])).toEqual([
          ['k2', ['k1']],
          ['k1', []],
        ]);

        expect(await store.deleteExpiredSigningKeys(t1 + 10 * MIN - 1)).toBe(0);
        expect(await store.deleteExpiredSigningKeys(t1 + 10 * MIN)).toBe(1);
        expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(['k2']);
        // The current key is never deleted, however late it is.
        expect(await store.deleteExpiredSigningKeys(t1 + 1000 * 24 * 60 * MIN)).toBe(0);
        expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(['k2']);
      });

      // Regression: revoke-key revoked, then activated the replacement in a second transaction; a
      // running server's key sync in between found no signing key and made its own (two new keys).
      it('revokes a key and activates its replacement in one step; a second revocation adds nothing', async () => {
        await store.activateSigningKey(keyRow('k1', T0), T0 + 99 * MIN, T0);
        const revoked = await store.revokeSigningKey('k1', T0 + MIN, audit('key.revoked'), { next: keyRow('k2', T0 + MIN), retireExpiresAt: T0 + 99 * MIN });
        expect(revoked).toBe(true);
        const keys = await store.listSigningKeys();
        expect(keys.map((k) => [k.kid, k.revoked_at, k.retired_at])).toEqual(
          expect.arrayContaining([
            ['k1', T0 + MIN, null],
            ['k2', null, null],
          ]),
        );
        expect(await store.revokeSigningKey('k1', T0 + 2 * MIN, audit('key.revoked'), { next: keyRow('k3', T0 + 2 * MIN), retireExpiresAt: 0 })).toBe(false);
        expect((await store.listSigningKeys()).map((k) => k.kid).sort()).toEqual(['k1', 'k2']);
      });

      it('schedules a key ahead, then retires its predecessors once, when it has started signing', async () => {
        await store.activateSigningKey(keyRow('k1', T0), 0, T0);
        const next = { ...keyRow('k2', T0 + MIN), activates_at: T0 + 16 * MIN };
        await store.scheduleSigningKey(next, T0 + MIN);
        expect(await store.listSigningKeys()).toEqual([next, keyRow('k1', T0)]);
        expect((await store.listAudit({ limit: 10, kind: 'key.published' })).map((e) => e.details)).toEqual([
          { kid: 'k2', alg: 'ES256', activates_at: T0 + 16 * MIN },
        ]);

        const expires = T0 + 30 * MIN;
        expect(await store.retireSigningKeysBefore(next, expires, T0 + 17 * MIN)).toEqual(['k1']);
        // Idempotent: a second process doing the same finds nothing to do, and audits nothing.
        expect(await store.retireSigningKeysBefore(next, expires, T0 + 17 * MIN)).toEqual([]);
        const keys = await store.listSigningKeys();
        expect(keys.map((k) => [k.kid, k.retired_at, k.expires_at])).toEqual([
          ['k2', null, null],
          ['k1', T0 + 16 * MIN, expires],
        ]);
        expect((await store.listAudit({ limit: 10, kind: 'key.rotated' })).map((e) => e.details)).toEqual([{ kid: 'k2', retired: ['k1'] }]);
      });

      it('revokes a key once, with an audit event; revoked keys are deleted at the next clean-up', async () => {
        await store.activateSigningKey(keyRow('k1', T0), 0, T0);
        await store.activateSigningKey(keyRow('k2', T0 + MIN), T0 + 99 * MIN, T0 + MIN);
        expect(await store.revokeSigningKey('k2', T0 + 2 * MIN, { kind: 'key.revoked', details: { by: 'admin-command' } })).toBe(true);
        expect(await store.revokeSigningKey('k2', T0 + 3 * MIN, { kind: 'key.revoked' })).toBe(false);
        expect(await store.revokeSigningKey('nope', T0 + 3 * MIN, { kind: 'key.revoked' })).toBe(false);
        expect((await store.listSigningKeys()).map((k) => [k.kid, k.revoked_at])).toEqual([
          ['k2', T0 + 2 * MIN],
          ['k1', null],
        ]);
        expect((await store.listAudit({ limit: 10, kind: 'key.revoked' })).map((e) => e.details)).toEqual([{ by: 'admin-command', kid: 'k2' }]);
        // A revoked key is never retired by a later activation (it stays withdrawn), and is cleaned up.
        await store.activateSigningKey(keyRow('k3', T0 + 4 * MIN), T0 + 99 * MIN, T0 + 4 * MIN);
        expect((await store.listSigningKeys()).find((k) => k.kid === 'k2')!.retired_at).toBeNull();
        expect(await store.deleteExpiredSigningKeys(T0 + 5 * MIN)).toBe(1);
        expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual(['k3', 'k1']);
      });

      // Regression: each replica planned from the rows it had read, then wrote: replicas starting
      // together on an empty database each made a signing key, and published different JWKS.
      it('adds the first key once when several replicas find none at the same moment', async () => {
        await replicas(4, async (stores) => {
          const results = await Promise.all(
            stores.map((s, i) => s.addSigningKeyIfNeeded(keyRow(`first-${i}`, T0), T0, { kind: 'first', retireExpiresAt: T0 + MIN })),
          );
          expect(results.filter(Boolean)).toHaveLength(1);
          const winner = `first-${results.indexOf(true)}`;
          for (const s of stores) expect((await s.listSigningKeys()).map((k) => [k.kid, k.retired_at])).toEqual([[winner, null]]);
          expect((await stores[0]!.listAudit({ limit: 10, kind: 'key.created' })).map((e) => e.details.kid)).toEqual([winner]);
          // A key that signs is enough; a retired or revoked one is not.
          expect(await stores[1]!.addSigningKeyIfNeeded(keyRow('late', T0 + MIN), T0 + MIN, { kind: 'first', retireExpiresAt: 0 })).toBe(false);
          // Nor a replica whose `now` is a little behind the winner's (read before it committed, or a clock behind).
          expect(await stores[2]!.addSigningKeyIfNeeded(keyRow('behind', T0 - 5000), T0 - 5000, { kind: 'first', retireExpiresAt: 0 })).toBe(false);
        });
      });

      it('replicas opening their key managers together on an empty database publish one key, the same JWKS, and one next key when rotation is due', async () => {
        const kek = (await KeyEncryptionKey.parse(Buffer.alloc(32, 7).toString('base64'), 'test')) as KeyEncryptionKey;
        const policy: KeyPolicy = { alg: 'ES256', rotationPeriodMs: 30 * DAY, retainMs: 11 * MIN, publishAheadMs: 15 * MIN };
        await replicas(3, async (stores) => {
          const managers = await Promise.all(stores.map((s) => KeyManager.open(s, policy, kek, T0)));
          expect(await stores[0]!.listSigningKeys()).toHaveLength(1);
          expect(new Set(managers.map((m) => m.jwksJson())).size).toBe(1);
          expect(new Set(managers.map((m) => m.current().kid)).size).toBe(1);
          // A replica whose clock is 2 s behind, starting now: it signs with that key and adds none.
          const behind = await KeyManager.open(stores[0]!, policy, kek, T0 - 2000);
          expect(behind.current().kid).toBe(managers[0]!.current().kid);
          expect(behind.jwksJson()).toBe(managers[0]!.jwksJson());
          expect(await stores[0]!.listSigningKeys()).toHaveLength(1);

          // Every replica's sync finds rotation due at the same moment: one next key is published.
          const due = T0 + policy.rotationPeriodMs - policy.publishAheadMs;
          await Promise.all(managers.map((m) => m.sync(due)));
          const keys = await stores[1]!.listSigningKeys();
          expect(keys).toHaveLength(2);
          expect(new Set(managers.map((m) => m.jwksJson())).size).toBe(1);
          expect((JSON.parse(managers[2]!.jwksJson()) as { keys: unknown[] }).keys).toHaveLength(2);
          expect(await stores[2]!.listAudit({ limit: 10, kind: 'key.published' })).toHaveLength(1);
        });
      });

      it('adds a first key when none can sign any more, retiring what is left', async () => {
        await store.activateSigningKey(keyRow('old', T0), T0 + 10 * MIN, T0);
        await store.revokeSigningKey('old', T0 + MIN, audit('key.revoked'));
        const pending = { ...keyRow('pending', T0 + MIN), activates_at: T0 + 30 * MIN };
        await store.scheduleSigningKey(pending, T0 + MIN);
        // Published, but not signing before T0 + 30 min: no key signs now.
        expect(await store.addSigningKeyIfNeeded(keyRow('now', T0 + 2 * MIN), T0 + 2 * MIN, { kind: 'first', retireExpiresAt: T0 + 40 * MIN })).toBe(true);
        expect((await store.listSigningKeys()).map((k) => [k.kid, k.retired_at, k.revoked_at]).sort()).toEqual([
          ['now', null, null],
          ['old', null, T0 + MIN],
          ['pending', T0 + 2 * MIN, null],
        ]);
      });

      it('publishes the next key once when several replicas find rotation due together; another algorithm is not the next key', async () => {
        const now = T0 + 60 * MIN;
        const next = (kid: string, alg = 'ES256') => ({ ...keyRow(kid, now), alg, activates_at: now + 15 * MIN });
        await replicas(3, async (stores) => {
          await stores[0]!.activateSigningKey(keyRow('k1', T0), 0, T0);
          const results = await Promise.all(stores.map((s, i) => s.addSigningKeyIfNeeded(next(`next-${i}`), now, { kind: 'next' })));
          expect(results.filter(Boolean)).toHaveLength(1);
          expect((await stores[2]!.listSigningKeys()).map((k) => k.kid).sort()).toEqual(['k1', `next-${results.indexOf(true)}`]);
          expect(await stores[0]!.listAudit({ limit: 10, kind: 'key.published' })).toHaveLength(1);
          // A pending key of another algorithm does not count as the next key of this one.
          expect(await stores[1]!.addSigningKeyIfNeeded(next('rsa', 'RS256'), now, { kind: 'next' })).toBe(true);
          // Once the next key signs, it is no longer "next": the following rotation may publish one.
          expect(await stores[2]!.addSigningKeyIfNeeded(next('later'), now + 15 * MIN, { kind: 'next' })).toBe(true);
        });
      });

      it('replaces a private half only if it still holds the expected value', async () => {
        await store.activateSigningKey(keyRow('k1', T0), 0, T0);
        const clear = keyRow('k1', T0).private_jwk;
        expect(await store.replaceSigningKeyPrivate('k1', 'something else', 'sealed-1')).toBe(false);
        expect(await store.replaceSigningKeyPrivate('k1', clear, 'sealed-1')).toBe(true);
        expect(await store.replaceSigningKeyPrivate('k1', clear, 'sealed-2')).toBe(false);
        expect((await store.listSigningKeys())[0]!.private_jwk).toBe('sealed-1');
      });
    });

    describe('server secrets', () => {
      it('returns the first value forever', async () => {
        const first = await store.getOrCreateSecret('refresh_successor_key', () => 'value-1', T0);
        expect(first).toBe('value-1');
        expect(await store.getOrCreateSecret('refresh_successor_key', () => 'value-2', T0 + MIN)).toBe('value-1');
        expect(await store.getOrCreateSecret('auth_secret', () => 'other', T0)).toBe('other');
      });

      it('agrees on one value when created concurrently', async () => {
        const values = await Promise.all([1, 2, 3, 4].map((i) => store.getOrCreateSecret('racy', () => `v${i}`, T0)));
        expect(new Set(values).size).toBe(1);
        expect(await store.getOrCreateSecret('racy', () => 'late', T0)).toBe(values[0]);
      });

      it('replaces a value only if it still holds the expected one', async () => {
        await store.getOrCreateSecret('auth_secret', () => 'clear', T0);
        expect(await store.replaceSecret('auth_secret', 'other', 'sealed-1')).toBe(false);
        expect(await store.replaceSecret('auth_secret', 'clear', 'sealed-1')).toBe(true);
        expect(await store.replaceSecret('auth_secret', 'clear', 'sealed-2')).toBe(false);
        expect(await store.replaceSecret('missing', 'clear', 'x')).toBe(false);
        expect(await store.getOrCreateSecret('auth_secret', () => 'new', T0)).toBe('sealed-1');
      });
    });

    describe('second factors', () => {
      const totp = (userId: string, id = randomUUID()) => ({ id, user_id: userId, kind: 'totp' as const, name: 'Phone', data: 'sealed', credential_id: null, confirmed: false });

      it('keeps a TOTP factor unconfirmed until a code confirms it, once, with an audit event', async () => {
        const { user } = await session();
        const f = await store.addMfaFactor(totp(user.id), T0);
        expect(f).toMatchObject({ confirmed_at: null, counter: null, last_used_at: null });
        expect(await store.confirmMfaFactor(user.id, f.id, 100, T0 + 1, audit('mfa.enrolled', { user_id: user.id }))).toBe(true);
        expect(await store.confirmMfaFactor(user.id, f.id, 101, T0 + 2, audit('mfa.enrolled', { user_id: user.id }))).toBe(false);
        expect(await store.listMfaFactors(user.id)).toMatchObject([{ id: f.id, confirmed_at: T0 + 1, counter: 100, last_used_at: T0 + 1 }]);
        expect(await store.listAudit({ limit: 5, kind: 'mfa.enrolled' })).toHaveLength(1);
      });

      it('moves a counter only forward: the same TOTP step never works twice, even concurrently', async () => {
        const { user } = await session();
        const f = await store.addMfaFactor({ ...totp(user.id), confirmed: true }, T0);
        expect(await store.advanceMfaCounter(f.id, 5, T0)).toBe(true);
        const race = await Promise.all([store.advanceMfaCounter(f.id, 6, T0), store.advanceMfaCounter(f.id, 6, T0)]);
        expect(race.filter(Boolean)).toHaveLength(1);
        expect(await store.advanceMfaCounter(f.id, 4, T0)).toBe(false);
      });

      it("removes only the person's own factor", async () => {
        const a = await session();
        const b = await session({}, await store.upsertUser({ ...profile(), subject: 'other' }, T0));
        const f = await store.addMfaFactor({ ...totp(a.user.id), confirmed: true }, T0);
        expect(await store.removeMfaFactor(b.user.id, f.id, T0, audit('mfa.removed'))).toBe(false);
        expect(await store.removeMfaFactor(a.user.id, f.id, T0, audit('mfa.removed'))).toBe(true);
        expect(await store.listMfaFactors(a.user.id)).toEqual([]);
      });

      it('finds a WebAuthn factor by its credential id, which is unique across people', async () => {
        const { user } = await session();
        await store.addMfaFactor({ id: randomUUID(), user_id: user.id, kind: 'webauthn', name: 'Key', data: '{}', credential_id: 'cred-1', confirmed: true, counter: 0 }, T0);
        expect((await store.getMfaFactorByCredentialId('cred-1'))?.user_id).toBe(user.id);
        await expect(
          store.addMfaFactor({ id: randomUUID(), user_id: user.id, kind: 'webauthn', name: 'Key 2', data: '{}', credential_id: 'cred-1', confirmed: true }, T0),
        ).rejects.toThrow();
      });

      it('spends each recovery code once; a new set replaces the old one', async () => {
        const { user } = await session();
        await store.replaceRecoveryCodes(user.id, ['h1', 'h2'], T0, audit('mfa.recovery_regenerated', { user_id: user.id }));
        const uses = await Promise.all([1, 2].map(() => store.useRecoveryCode(user.id, 'h1', T0, audit('mfa.recovery_used'))));
        expect(uses.filter(Boolean)).toHaveLength(1);
        expect(await store.countRecoveryCodes(user.id)).toEqual({ total: 2, unused: 1 });
        expect(await store.listAudit({ limit: 5, kind: 'mfa.recovery_used' })).toHaveLength(1);
        await store.replaceRecoveryCodes(user.id, ['h3'], T0, audit('mfa.recovery_regenerated'));
        expect(await store.useRecoveryCode(user.id, 'h2', T0, audit('mfa.recovery_used'))).toBe(false);
        expect(await store.countRecoveryCodes(user.id)).toEqual({ total: 1, unused: 1 });
      });

      it('an admin reset removes every factor and code, audited with the counts', async () => {
        const { user } = await session();
        await store.addMfaFactor({ ...totp(user.id), confirmed: true }, T0);
        await store.replaceRecoveryCodes(user.id, ['h1', 'h2'], T0, audit('mfa.recovery_regenerated'));
        expect(await store.resetMfa(user.id, T0, audit('mfa.reset', { details: { by: 'cli' } }))).toEqual({ factors: 1, recovery_codes: 2 });
        expect(await store.listMfaFactors(user.id)).toEqual([]);
        expect((await store.listAudit({ limit: 5, kind: 'mfa.reset' }))[0]?.details).toEqual({ by: 'cli', factors: 1, recovery_codes: 2 });
      });

      it('elevates a live login session: its amr (and so every later refresh) says MFA; a revoked one stays', async () => {
        const s = await session({ amr: ['pwd'] });
        expect(await store.elevateLoginSession(s.session.id, ['pwd', 'otp', 'mfa'], T0, audit('mfa.verified'))).toBe(true);
        expect((await store.getLoginSession(s.session.id))?.session.amr).toEqual(['pwd', 'otp', 'mfa']);
        await store.revokeLoginSession(s.session.id, 'sign_out', T0, audit('session.logout'));
        expect(await store.elevateLoginSession(s.session.id, ['pwd', 'mfa'], T0, audit('mfa.verified'))).toBe(false);
      });
    });

    describe('ephemeral records', () => {
      it('inserts once: a live key refuses a second put, an expired one is taken over', async () => {
        expect(await store.putEphemeral('saml.replay', 'id-1', 'a', T0 + MIN, T0)).toBe(true);
        expect(await store.putEphemeral('saml.replay', 'id-1', 'b', T0 + MIN, T0 + 1)).toBe(false);
        expect(await store.getEphemeral('saml.replay', 'id-1', T0 + 1)).toBe('a');
        // Same key, other namespace: independent.
        expect(await store.putEphemeral('ticket', 'id-1', 'c', T0 + MIN, T0)).toBe(true);
        // Once expired, it is gone for readers and free for a new put.
        expect(await store.getEphemeral('saml.replay', 'id-1', T0 + MIN)).toBeUndefined();
        expect(await store.putEphemeral('saml.replay', 'id-1', 'd', T0 + 2 * MIN, T0 + MIN)).toBe(true);
        expect(await store.getEphemeral('saml.replay', 'id-1', T0 + MIN)).toBe('d');
      });

      it('takes a record exactly once, and never an expired one', async () => {
        await store.putEphemeral('code', 'k', 'v', T0 + MIN, T0);
        const takes = await Promise.all([store.takeEphemeral('code', 'k', T0), store.takeEphemeral('code', 'k', T0)]);
        expect(takes.filter((t) => t === 'v')).toHaveLength(1);
        expect(takes.filter((t) => t === undefined)).toHaveLength(1);
        await store.putEphemeral('code', 'old', 'v', T0 + MIN, T0);
        expect(await store.takeEphemeral('code', 'old', T0 + MIN)).toBeUndefined();
      });

      it('replaces a live value only when it still holds the expected one', async () => {
        await store.putEphemeral('device', 'd', 'pending', T0 + MIN, T0);
        expect(await store.replaceEphemeral('device', 'd', 'other', 'approved', T0)).toBe(false);
        expect(await store.replaceEphemeral('device', 'd', 'pending', 'approved', T0)).toBe(true);
        expect(await store.getEphemeral('device', 'd', T0)).toBe('approved');
        expect(await store.replaceEphemeral('device', 'd', 'approved', 'used', T0 + MIN)).toBe(false);
      });

      it('lists the live records of one namespace, and deletes a namespace whole', async () => {
        await store.putEphemeral('fail:a', 'k2', '2', T0 + 2 * MIN, T0);
        await store.putEphemeral('fail:a', 'k1', '1', T0 + MIN, T0);
        await store.putEphemeral('fail:a', 'gone', '0', T0 + 1, T0);
        await store.putEphemeral('fail:b', 'k1', 'other', T0 + MIN, T0);
        expect(await store.listEphemeral('fail:a', T0 + 1)).toEqual([
          { key: 'k1', value: '1', expires_at: T0 + MIN },
          { key: 'k2', value: '2', expires_at: T0 + 2 * MIN },
        ]);
        expect(await store.deleteEphemeralNamespace('fail:a')).toBe(3);
        expect(await store.listEphemeral('fail:a', T0)).toEqual([]);
        expect(await store.listEphemeral('fail:b', T0)).toEqual([{ key: 'k1', value: 'other', expires_at: T0 + MIN }]);
      });

      it('prunes expired records and keeps live ones', async () => {
        await store.putEphemeral('n', 'gone', 'x', T0 + MIN, T0);
        await store.putEphemeral('n', 'live', 'y', T0 + 10 * MIN, T0);
        const counts = await store.prune({ now: T0 + 2 * MIN, retainAfter: 0, limit: 100 });
        expect(counts.ephemeral).toBe(1);
        expect(await store.getEphemeral('n', 'live', T0 + 2 * MIN)).toBe('y');
      });
    });

    describe('audit', () => {
      it('lists newest first, filtered by user, kind and family, up to a limit', async () => {
        const ev = (i: number, kind: AuditInput['kind'], user: string | null, fam: string | null) =>
          store.appendAudit({ kind, user_id: user, family_id: fam, request_id: `r${i}`, details: { i, nested: { ok: true } } }, T0 + i * 1000);
        await ev(1, 'session.login', 'u1', null);
        await ev(2, 'token.issued', 'u1', 'f1');
        await ev(3, 'token.refreshed', 'u1', 'f1');
        await ev(4, 'token.issued', 'u2', 'f2');
        await ev(5, 'token.refreshed', 'u1', 'f1');
        await ev(6, 'session.login_failed', null, null);

        const ids = (events: { request_id: string | null }[]) => events.map((e) => e.request_id);
        expect(ids(await store.listAudit({ limit: 100 }))).toEqual(['r6', 'r5', 'r4', 'r3', 'r2', 'r1']);
        expect(ids(await store.listAudit({ limit: 2 }))).toEqual(['r6', 'r5']);
        expect(ids(await store.listAudit({ limit: 100, userId: 'u1' }))).toEqual(['r5', 'r3', 'r2', 'r1']);
        expect(ids(await store.listAudit({ limit: 100, kind: 'token.issued' }))).toEqual(['r4', 'r2']);
        expect(ids(await store.listAudit({ limit: 100, familyId: 'f1' }))).toEqual(['r5', 'r3', 'r2']);
        expect(ids(await store.listAudit({ limit: 100, userId: 'u1', kind: 'token.refreshed', familyId: 'f1' }))).toEqual(['r5', 'r3']);
        expect(await store.listAudit({ limit: 100, userId: 'nobody' })).toEqual([]);

        const [last] = await store.listAudit({ limit: 1 });
        expect(last).toEqual({
          id: expect.any(String),
          at: T0 + 6000,
          kind: 'session.login_failed',
          user_id: null,
          username: null,
          cluster: null,
          family_id: null,
          session_id: null,
          client_ip: null,
          request_id: 'r6',
          details: { i: 6, nested: { ok: true } },
        });
      });

      it('orders by time even when the clock is far apart in magnitude', async () => {
        await store.appendAudit({ kind: 'session.login', request_id: 'early' }, 999);
        await store.appendAudit({ kind: 'session.login', request_id: 'late' }, T0);
        expect((await store.listAudit({ limit: 10 })).map((e) => e.request_id)).toEqual(['late', 'early']);
      });
    });
  });
}
