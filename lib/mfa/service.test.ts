import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../auth/rate-limit';
import { openSqliteStore } from '../store/sqlite';
import type { LoginSession, Store, User } from '../store/types';
import { silentLogger } from '../util/log';
import { ALICE, T0, TestClock, testKek } from '../../test/support/fixtures';
import { confirmTotpEnrollment, pendingTotpEnrollment, removeFactor, stageOf, verifyCode, type MfaDeps } from './service';
import { totpCodeAt } from './totp';

const meta = { clientIp: '192.0.2.5' };
let store: Store;
let clock: TestClock;
let deps: MfaDeps;
let user: User;
let session: LoginSession;

beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  clock = new TestClock(T0);
  deps = { store, now: clock.now, log: silentLogger, kek: await testKek(), throttle: new SignInThrottle(clock.now), policy: { everyone: false, groups: ['admins'] }, totpIssuer: 'Kubegate' };
  user = await store.upsertUser({ ...ALICE, groups: ['admins'] }, T0);
  session = await store.createLoginSession(
    { id: 'sess-1', user_id: user.id, upstream: user.upstream, amr: ['pwd'], auth_time: T0, expires_at: T0 + 3_600_000, client_ip: null, user_agent: null },
    T0,
  );
});
afterEach(() => store.close());

const reload = async () => (await store.getLoginSession(session.id))!.session;

async function enroll(): Promise<{ secret: string; codes: string[] }> {
  const e = await pendingTotpEnrollment(deps, user);
  const r = await confirmTotpEnrollment(deps, user, session, { factorId: e.factorId, code: totpCodeAt(e.secret, clock.now()) }, meta);
  if (!r.ok) throw new Error(r.reason);
  session = await reload();
  return { secret: e.secret, codes: r.recoveryCodes ?? [] };
}

describe('second factors', () => {
  it('a member of an MFA group with nothing enrolled must enroll; after enrolling, the session is complete and says so', async () => {
    expect(await stageOf(deps, session, user)).toBe('enrollment');
    const { codes } = await enroll();
    expect(codes).toHaveLength(10);
    expect(session.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(await stageOf(deps, session, user)).toBe('complete');
    expect((await store.listAudit({ limit: 10, kind: 'mfa.enrolled' }))[0]).toMatchObject({ user_id: user.id, details: { kind: 'totp' } });
  });

  it('keeps the TOTP secret sealed at rest and offers the same pending secret until it is confirmed', async () => {
    const a = await pendingTotpEnrollment(deps, user);
    const b = await pendingTotpEnrollment(deps, user);
    expect(b.secret).toBe(a.secret);
    expect(a.qrSvg).toMatch(/^<svg/);
    const [row] = await store.listMfaFactors(user.id);
    expect(row!.data).not.toContain(a.secret);
    expect(row!.data.split('.')).toHaveLength(5);
  });

  it('at the next sign-in: a fresh code works once; the same code again, or a wrong one, does not', async () => {
    const { secret } = await enroll();
    const next = await store.createLoginSession({ ...session, id: 'sess-2', amr: ['pwd'] }, T0);
    expect(await stageOf(deps, next, user)).toBe('second_factor');
    clock.advance(30_000);
    const code = totpCodeAt(secret, clock.now());
    expect(await verifyCode(deps, user, next, code, meta)).toEqual({ ok: true, method: 'totp' });
    expect((await store.getLoginSession('sess-2'))!.session.amr).toEqual(['pwd', 'otp', 'mfa']);
    const third = await store.createLoginSession({ ...session, id: 'sess-3', amr: ['pwd'] }, T0);
    expect(await verifyCode(deps, user, third, code, meta)).toEqual({ ok: false, reason: 'wrong_code' });
    expect(await verifyCode(deps, user, third, '000000', meta)).toMatchObject({ ok: false });
    expect((await store.getLoginSession('sess-3'))!.session.amr).toEqual(['pwd']);
    const refused = (await store.listAudit({ limit: 10, kind: 'mfa.failed' })).map((e) => e.details.reason);
    expect(refused).toEqual(expect.arrayContaining(['replayed', 'wrong_code']));
  });

  it('a recovery code works once, audited', async () => {
    const { codes } = await enroll();
    const s2 = await store.createLoginSession({ ...session, id: 'sess-2', amr: ['pwd'] }, T0);
    expect(await verifyCode(deps, user, s2, codes[3]!.toLowerCase(), meta)).toEqual({ ok: true, method: 'recovery_code' });
    const s3 = await store.createLoginSession({ ...session, id: 'sess-3', amr: ['pwd'] }, T0);
    expect(await verifyCode(deps, user, s3, codes[3]!, meta)).toMatchObject({ ok: false, reason: 'wrong_code' });
    expect(await store.listAudit({ limit: 10, kind: 'mfa.recovery_used' })).toHaveLength(1);
  });

  it('limits guesses per person and address: once throttled, even the right code is not tested', async () => {
    const { secret } = await enroll();
    const s2 = await store.createLoginSession({ ...session, id: 'sess-2', amr: ['pwd'] }, T0);
    let last;
    for (let i = 0; i < 40; i++) last = await verifyCode(deps, user, s2, String(100000 + i), meta);
    expect(last).toMatchObject({ ok: false, reason: 'rate_limited' });
    clock.advance(30_000);
    expect(await verifyCode(deps, user, s2, totpCodeAt(secret, clock.now()), meta)).toMatchObject({ ok: false, reason: 'rate_limited' });
    expect((await store.getLoginSession('sess-2'))!.session.amr).toEqual(['pwd']);
  });

  it('a removed factor no longer verifies; removing another person’s factor does nothing', async () => {
    const { secret } = await enroll();
    const [f] = await store.listMfaFactors(user.id);
    const other = await store.upsertUser({ ...ALICE, subject: 'mallory', username: 'mallory' }, T0);
    expect(await removeFactor(deps, other, session, f!.id, meta)).toBe(false);
    expect(await removeFactor(deps, user, session, f!.id, meta)).toBe(true);
    const s2 = await store.createLoginSession({ ...session, id: 'sess-2', amr: ['pwd'] }, T0);
    clock.advance(60_000);
    expect(await verifyCode(deps, user, s2, totpCodeAt(secret, clock.now()), meta)).toMatchObject({ ok: false });
  });

  it('a cluster that asks for MFA needs step-up even when the person’s groups do not', async () => {
    const dev = await store.upsertUser({ ...ALICE, subject: 'dev', groups: ['dev'] }, T0);
    const s = await store.createLoginSession({ ...session, id: 'sess-dev', user_id: dev.id, amr: ['pwd'] }, T0);
    expect(await stageOf(deps, s, dev)).toBe('complete');
    expect(await stageOf(deps, s, dev, { require_mfa: true })).toBe('enrollment');
  });

  it('a session that has not shown a factor cannot add another authenticator (a stolen password alone adds nothing)', async () => {
    await enroll();
    const passwordOnly = await store.createLoginSession({ ...session, id: 'sess-pw', amr: ['pwd'] }, T0);
    const e = await pendingTotpEnrollment(deps, user);
    const r = await confirmTotpEnrollment(deps, user, passwordOnly, { factorId: e.factorId, code: totpCodeAt(e.secret, clock.now()) }, meta);
    expect(r).toEqual({ ok: false, reason: 'not_found' });
    expect((await store.listMfaFactors(user.id)).filter((f) => f.confirmed_at !== null)).toHaveLength(1);
  });
});
