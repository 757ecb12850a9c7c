import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MINUTE, SECOND, T0, TestClock, testKek } from '../../test/support/fixtures';
import { isSealed, rowId, type KeyEncryptionKey } from '../crypto/kek';
import { openSqliteStore } from '../store/sqlite';
import type { Store, User, UserProfile } from '../store/types';
import { silentLogger } from '../util/log';
import { recheckDue, Rechecker, withinGrace, type RecheckDeps, type RecheckingConnector } from './recheck';
import type { ConnectorContext, RecheckOutcome } from './types';

const CORP = { id: 'corp', recheck_interval: 300, recheck_grace: 900 };
const ALICE: UserProfile = { upstream: 'corp', subject: 'uid-alice', username: 'corp:alice', email: 'alice@example.com', name: 'Alice', groups: ['dev', 'ops'] };

/**
 * The engine's contract with a connector, and nothing else: it answers what
 * the test scripts and records what it was asked. (Real connectors are tested
 * against real upstreams in their own modules.)
 */
class FakeConnector implements RecheckingConnector {
  calls: Array<{ subject: string; state: string | null }> = [];
  answer: (user: User) => Promise<RecheckOutcome> | RecheckOutcome = (user) => ({ status: 'active', identity: profileOf(user) });
  recheck(_config: never, user: User, state: string | null, ctx: ConnectorContext): Promise<RecheckOutcome> {
    expect(typeof ctx.now()).toBe('number');
    this.calls.push({ subject: user.subject, state });
    return Promise.resolve().then(() => this.answer(user));
  }
}
const profileOf = (u: User): UserProfile => ({ upstream: u.upstream, subject: u.subject, username: u.username, email: u.email, name: u.name, groups: u.groups });

let store: Store;
let clock: TestClock;
let kek: KeyEncryptionKey;
let upstream: FakeConnector;

beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  clock = new TestClock();
  kek = await testKek();
  upstream = new FakeConnector();
});
afterEach(async () => {
  await store.close();
});

function engine(over: Partial<RecheckDeps> = {}): Rechecker {
  return new Rechecker({ store, kek, now: clock.now, log: silentLogger, connectorFor: () => upstream, ...over });
}

/** Signs alice in at the clock's time (with a sealed re-check state), with one session and one credential. */
async function signIn(profile = ALICE, state: string | null = 'upstream-refresh-1') {
  const sealed = state === null ? null : await kek.seal(rowId.recheckState(profile.upstream, profile.subject), state);
  const user = await store.upsertUser(profile, clock.now(), { recheckState: sealed });
  const session = await store.createLoginSession(
    { id: randomUUID(), user_id: user.id, upstream: profile.upstream, amr: ['pwd'], auth_time: clock.now(), expires_at: clock.now() + 12 * 60 * MINUTE, client_ip: null, user_agent: null },
    clock.now(),
  );
  const family = await store.createFamily(
    { id: randomUUID(), login_session_id: session.id, user_id: user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: session.expires_at, first_token_hash: randomUUID() },
    clock.now(),
    { kind: 'token.issued' },
  );
  return { user, session, family };
}
/** The person as the next request reads them. */
const reread = async (id: string) => (await store.getUser(id))!;
const auditKinds = async (userId: string) => (await store.listAudit({ limit: 100, userId })).map((e) => e.kind).filter((k) => k.startsWith('user.'));

describe('recheckDue and withinGrace (pure)', () => {
  it.each([
    ['never checked', null, T0, true],
    ['checked just now', T0, T0, false],
    ['one second before the interval', T0, T0 + 5 * MINUTE - 1, false],
    ['exactly the interval', T0, T0 + 5 * MINUTE, true],
    ['long ago', T0, T0 + 10 * 60 * MINUTE, true],
    ['in the future (the clock stepped back)', T0 + MINUTE, T0, true],
  ])('%s: due %s', (_what, checkedAt, now, due) => {
    expect(recheckDue({ checked_at: checkedAt }, CORP, now)).toBe(due);
  });

  it('defaults to a 5 min interval and a 15 min grace for an entry that does not set them', () => {
    expect(recheckDue({ checked_at: T0 }, { id: 'x' }, T0 + 5 * MINUTE - 1)).toBe(false);
    expect(recheckDue({ checked_at: T0 }, { id: 'x' }, T0 + 5 * MINUTE)).toBe(true);
    expect(withinGrace(T0, { id: 'x' }, T0 + 15 * MINUTE - 1)).toBe(true);
    expect(withinGrace(T0, { id: 'x' }, T0 + 15 * MINUTE)).toBe(false);
  });

  it('with a grace of 0 fails closed at the first failure', () => {
    expect(withinGrace(T0, { id: 'x', recheck_grace: 0 }, T0)).toBe(false);
  });
});

describe('Rechecker', () => {
  it('asks nothing and writes nothing while no check is due', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE - SECOND);
    const before = await store.listAudit({ limit: 100 });
    expect(await engine().check(CORP, user)).toEqual({ status: 'active', user });
    expect(upstream.calls).toEqual([]);
    expect(await store.listAudit({ limit: 100 })).toEqual(before);
  });

  it('never asks an upstream whose connector cannot re-check, and writes nothing', async () => {
    const { user } = await signIn();
    clock.advance(60 * MINUTE);
    expect(await engine({ connectorFor: () => ({}) }).check(CORP, user)).toEqual({ status: 'active', user });
    expect(await engine({ connectorFor: () => undefined }).check(CORP, user)).toEqual({ status: 'active', user });
    expect(await auditKinds(user.id)).toEqual([]);
  });

  it('when due, asks with the opened state and stores the fresh identity: a removed group is gone, an added one there', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE);
    upstream.answer = (u) => ({ status: 'active', identity: { ...profileOf(u), groups: ['dev', 'sre'] }, recheckState: 'upstream-refresh-2' });
    const verdict = await engine().check(CORP, user, { clientIp: '192.0.2.9', requestId: 'r1', cluster: 'prod' });
    expect(upstream.calls).toEqual([{ subject: 'uid-alice', state: 'upstream-refresh-1' }]);
    expect(verdict).toEqual({ status: 'active', user: { ...user, groups: ['dev', 'sre'], checked_at: clock.now(), updated_at: clock.now() } });
    expect(await reread(user.id)).toEqual(verdict.status === 'active' && verdict.user);
    // The new state is stored sealed for this person, never in clear.
    const stored = (await store.getRecheckState(user.id))!;
    expect(isSealed(stored)).toBe(true);
    expect(stored).not.toContain('upstream-refresh-2');
    expect(await kek.open(rowId.recheckState('corp', 'uid-alice'), stored)).toBe('upstream-refresh-2');
    const [event] = await store.listAudit({ limit: 1, kind: 'user.rechecked' });
    expect(event).toMatchObject({
      user_id: user.id,
      username: 'corp:alice',
      cluster: 'prod',
      client_ip: '192.0.2.9',
      request_id: 'r1',
      details: { upstream: 'corp', result: 'active', groups_added: ['sre'], groups_removed: ['ops'], reason: null },
    });
    // Checked: the next request within the interval asks nothing.
    clock.advance(MINUTE);
    await engine().check(CORP, await reread(user.id));
    expect(upstream.calls).toHaveLength(1);
  });

  it('keeps the stored state when the connector returns none, and passes null when there never was one', async () => {
    const { user } = await signIn(ALICE, null);
    clock.advance(5 * MINUTE);
    await engine().check(CORP, user);
    expect(upstream.calls).toEqual([{ subject: 'uid-alice', state: null }]);
    expect(await store.getRecheckState(user.id)).toBeNull();
  });

  it('gone: revokes every session and credential of the person, audits it, and refuses', async () => {
    const first = await signIn();
    const second = await signIn();
    const bob = await signIn({ ...ALICE, subject: 'uid-bob', username: 'corp:bob' });
    clock.advance(6 * MINUTE);
    upstream.answer = () => ({ status: 'gone', reason: 'account disabled' });
    expect(await engine().check(CORP, await reread(first.user.id), { requestId: 'r2' })).toEqual({ status: 'gone', reason: 'account disabled' });
    for (const s of [first, second]) {
      expect((await store.getLoginSession(s.session.id))!.session).toMatchObject({ revoked_at: clock.now(), revoke_reason: 'offboarded' });
      expect(await store.getFamily(s.family.id)).toMatchObject({ revoked_at: clock.now(), revoke_reason: 'offboarded' });
    }
    // Someone else's sign-in is untouched.
    expect((await store.getFamily(bob.family.id))!.revoked_at).toBeNull();
    expect(await auditKinds(first.user.id)).toEqual(['user.rechecked', 'user.offboarded', 'user.offboarded']);
    const [event] = await store.listAudit({ limit: 1, kind: 'user.rechecked' });
    expect(event!.details).toEqual({ upstream: 'corp', result: 'gone', groups_added: [], groups_removed: ['dev', 'ops'], reason: 'account disabled', sessions_revoked: 2 });
  });

  it('unavailable: keeps the last known identity within the grace, then refuses without revoking, and recovers when the upstream is back', async () => {
    const { user, family } = await signIn();
    const rechecker = engine();
    upstream.answer = () => ({ status: 'unavailable', reason: 'ldap: connection refused' });
    clock.advance(5 * MINUTE);
    const failingSince = clock.now();
    expect(await rechecker.check(CORP, await reread(user.id))).toEqual({ status: 'active', user: { ...user, check_failing_since: failingSince } });
    expect(await reread(user.id)).toMatchObject({ checked_at: T0, check_failing_since: failingSince, groups: ['dev', 'ops'] });

    clock.advance(14 * MINUTE); // still within the grace
    expect((await rechecker.check(CORP, await reread(user.id))).status).toBe('active');
    clock.advance(MINUTE); // the grace is over: fail closed
    expect(await rechecker.check(CORP, await reread(user.id))).toEqual({ status: 'unavailable', reason: 'ldap: connection refused' });
    expect(upstream.calls).toHaveLength(3);
    // Within the retry pause the stored verdict stands: still refused, the upstream not asked.
    clock.advance(SECOND);
    expect((await rechecker.check(CORP, await reread(user.id))).status).toBe('unavailable');
    expect(upstream.calls).toHaveLength(3);
    // Nothing was revoked, and the failure time is the first one.
    expect((await store.getFamily(family.id))!.revoked_at).toBeNull();
    expect((await reread(user.id)).check_failing_since).toBe(failingSince);
    const decisions = (await store.listAudit({ limit: 10, kind: 'user.recheck_failed' })).map((e) => e.details.decision);
    expect(decisions).toEqual(['refused', 'kept', 'kept']);

    clock.advance(RETRY);
    upstream.answer = (u) => ({ status: 'active', identity: profileOf(u) });
    expect((await rechecker.check(CORP, await reread(user.id))).status).toBe('active');
    expect(await reread(user.id)).toMatchObject({ checked_at: clock.now(), check_failing_since: null });
  });

  it('pauses retries of a failing check for 30 s in this process, using the stored verdict meanwhile (no audit row)', async () => {
    const { user } = await signIn();
    const rechecker = engine();
    upstream.answer = () => ({ status: 'unavailable', reason: 'down' });
    clock.advance(5 * MINUTE);
    await rechecker.check(CORP, await reread(user.id));
    clock.advance(RETRY - 1);
    expect((await rechecker.check(CORP, await reread(user.id))).status).toBe('active');
    expect(upstream.calls).toHaveLength(1);
    expect(await auditKinds(user.id)).toEqual(['user.recheck_failed']);
    clock.advance(1);
    await rechecker.check(CORP, await reread(user.id));
    expect(upstream.calls).toHaveLength(2);
  });

  it('bounds the wait: a connector that does not answer in time counts as unavailable', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE);
    upstream.answer = () => new Promise<never>(() => undefined);
    const started = Date.now();
    const verdict = await engine({ timeoutMs: 50 }).check(CORP, user);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(verdict.status).toBe('active'); // within the grace
    const [event] = await store.listAudit({ limit: 1, kind: 'user.recheck_failed' });
    expect(event!.details).toMatchObject({ result: 'unavailable', reason: 'no answer within 0.05 s', decision: 'kept' });
  });

  it('keeps an active answer that arrives after the deadline: a rotated upstream refresh token is not lost', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE);
    let answer!: (o: RecheckOutcome) => void;
    upstream.answer = () => new Promise<RecheckOutcome>((r) => (answer = r));
    expect((await engine({ timeoutMs: 20 }).check(CORP, user)).status).toBe('active');
    expect((await reread(user.id)).check_failing_since).toBe(clock.now());
    answer({ status: 'active', identity: { ...ALICE, groups: ['dev'] }, recheckState: 'rotated-refresh-token' });
    await expect.poll(async () => (await reread(user.id)).check_failing_since).toBeNull();
    expect(await reread(user.id)).toMatchObject({ groups: ['dev'], checked_at: clock.now() });
    expect(await kek.open(rowId.recheckState('corp', 'uid-alice'), (await store.getRecheckState(user.id))!)).toBe('rotated-refresh-token');
    const [event] = await store.listAudit({ limit: 1, kind: 'user.rechecked' });
    expect(event!.details).toMatchObject({ result: 'active', groups_removed: ['ops'], reason: 'answered after the deadline' });
  });

  it('lets one process at a time ask about a person: another replica meanwhile uses the stored identity', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.answer = async (u) => {
      await gate;
      return { status: 'active', identity: { ...profileOf(u), groups: ['dev'] } };
    };
    const first = engine().check(CORP, user);
    await expect.poll(() => upstream.calls.length).toBe(1);
    // A second process (its own engine, same database) finds the check due too, but not its turn.
    expect(await engine().check(CORP, user)).toEqual({ status: 'active', user });
    expect(upstream.calls).toHaveLength(1);
    release();
    expect(await first).toMatchObject({ status: 'active', user: { groups: ['dev'] } });
  });

  it('counts a connector that throws as unavailable, naming the error but no stack', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE);
    upstream.answer = () => {
      throw new Error('ECONNRESET');
    };
    await engine({ connectorFor: () => upstream }).check(CORP, { ...user, check_failing_since: clock.now() - 15 * MINUTE });
    const [event] = await store.listAudit({ limit: 1, kind: 'user.recheck_failed' });
    expect(event!.details).toMatchObject({ reason: 'Error: ECONNRESET', decision: 'refused' });
  });

  it('asks the upstream once for concurrent requests of the same person', async () => {
    const { user } = await signIn();
    const other = (await signIn({ ...ALICE, subject: 'uid-bob', username: 'corp:bob' })).user;
    clock.advance(5 * MINUTE);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    upstream.answer = async (u) => {
      await gate;
      return { status: 'active', identity: { ...profileOf(u), groups: ['dev'] } };
    };
    const rechecker = engine();
    const pending = [...Array.from({ length: 5 }, () => rechecker.check(CORP, user)), rechecker.check(CORP, other)];
    release();
    const verdicts = await Promise.all(pending);
    expect(upstream.calls.map((c) => c.subject)).toEqual(['uid-alice', 'uid-bob']);
    expect(verdicts.every((v) => v.status === 'active' && v.user.groups.join() === 'dev')).toBe(true);
    expect(await auditKinds(user.id)).toEqual(['user.rechecked']);
  });

  it('not_supported: the stored identity stays, and the upstream is not asked again within the interval', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE);
    upstream.answer = () => ({ status: 'not_supported' });
    expect(await engine().check(CORP, user)).toEqual({ status: 'active', user: { ...user, checked_at: clock.now() } });
    clock.advance(MINUTE);
    await engine().check(CORP, await reread(user.id));
    expect(upstream.calls).toHaveLength(1);
    const [event] = await store.listAudit({ limit: 1, kind: 'user.rechecked' });
    expect(event!.details).toMatchObject({ result: 'not_supported' });
  });

  it('never takes an identity the upstream gave for another subject', async () => {
    const { user } = await signIn();
    clock.advance(5 * MINUTE);
    upstream.answer = (u) => ({ status: 'active', identity: { ...profileOf(u), subject: 'uid-mallory', groups: ['admins'] } });
    const verdict = await engine().check(CORP, user);
    expect(verdict).toEqual({ status: 'active', user: { ...user, check_failing_since: clock.now() } });
    expect((await reread(user.id)).groups).toEqual(['dev', 'ops']);
  });

  it('refuses a sealed state moved from another person\'s row, without asking the upstream', async () => {
    const { user } = await signIn();
    const bob = await signIn({ ...ALICE, subject: 'uid-bob', username: 'corp:bob' }, 'bobs-refresh-token');
    // Someone with database access copies bob's state onto alice's row.
    await store.upsertUser(ALICE, clock.now(), { recheckState: await store.getRecheckState(bob.user.id) });
    clock.advance(5 * MINUTE);
    expect((await engine().check(CORP, await reread(user.id))).status).toBe('active'); // within the grace
    expect(upstream.calls).toEqual([]);
    const [event] = await store.listAudit({ limit: 1, kind: 'user.recheck_failed' });
    expect(event!.details).toMatchObject({ reason: 'the stored re-check state cannot be opened' });
  });
});

const RETRY = 30 * SECOND;
