import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../auth/rate-limit';
import { openSqliteStore } from '../store/sqlite';
import type { LoginSession, Store, User } from '../store/types';
import { silentLogger } from '../util/log';
import { ALICE, MINUTE, T0, TestClock, testKek } from '../../test/support/fixtures';
import { SoftAuthenticator, type Flags } from '../../test/support/soft-authenticator';
import { stageOf } from './service';
import {
  AuthenticationResponseSchema,
  authenticationOptions,
  passkeyDataOf,
  RegistrationResponseSchema,
  registrationOptions,
  relyingPartyOf,
  verifyAuthentication,
  verifyRegistration,
  type PasskeyDeps,
} from './webauthn';

const meta = { clientIp: '192.0.2.5' };
const RP = relyingPartyOf({ issuer: { url: 'https://kubegate.example.com' }, branding: { title: 'Acme Kubernetes' } });
let store: Store;
let clock: TestClock;
let deps: PasskeyDeps;
let alice: User;
let session: LoginSession;

async function newSession(user: User, id: string): Promise<LoginSession> {
  return store.createLoginSession(
    { id, user_id: user.id, upstream: user.upstream, amr: ['pwd'], auth_time: clock.now(), expires_at: clock.now() + 3_600_000, client_ip: null, user_agent: null },
    clock.now(),
  );
}

beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  clock = new TestClock(T0);
  deps = {
    store,
    now: clock.now,
    log: silentLogger,
    kek: await testKek(),
    throttle: new SignInThrottle(clock.now),
    policy: { everyone: false, groups: ['admins'] },
    totpIssuer: 'Kubegate',
    rp: RP,
  };
  alice = await store.upsertUser({ ...ALICE, groups: ['admins'] }, T0);
  session = await newSession(alice, 'sess-1');
});
afterEach(() => store.close());

const reload = async (s: LoginSession) => (await store.getLoginSession(s.id))!.session;
/** Oldest first (the store lists newest first). */
const failures = async () => (await store.listAudit({ limit: 50, kind: 'mfa.failed' })).map((e) => e.details).reverse();

/** The browser's side of a registration ceremony against `registrationOptions`. */
async function register(auth: SoftAuthenticator, s = session, user = alice, over: { origin?: string; rpId?: string; flags?: Flags } = {}) {
  const options = await registrationOptions(deps, user, s);
  if (!options) throw new Error('not allowed to enroll');
  const response = RegistrationResponseSchema.parse(auth.register({ challenge: options.challenge, origin: over.origin ?? RP.origin, rpId: over.rpId ?? RP.id, flags: over.flags }));
  return verifyRegistration(deps, user, s, { response, name: 'Laptop' }, meta);
}

async function signInAgain(): Promise<LoginSession> {
  clock.advance(MINUTE);
  return newSession(alice, `sess-${clock.now()}`);
}

async function authenticate(auth: SoftAuthenticator, s: LoginSession, over: { origin?: string; rpId?: string; flags?: Flags; step?: number } = {}) {
  const options = await authenticationOptions(deps, alice, s);
  if (!options) throw new Error('no passkeys');
  const response = AuthenticationResponseSchema.parse(auth.authenticate({ challenge: options.challenge, origin: over.origin ?? RP.origin, rpId: over.rpId ?? RP.id, flags: over.flags, step: over.step }));
  return { response, result: await verifyAuthentication(deps, alice, s, response, meta) };
}

describe('passkeys', () => {
  it('the relying party is issuer.url: its host the RP id, its origin the only origin', () => {
    expect(relyingPartyOf({ issuer: { url: 'https://login.example.com:8443/' }, branding: { title: 'K' } })).toEqual({ id: 'login.example.com', name: 'K', origin: 'https://login.example.com:8443' });
  });

  it('registration options require user verification, exclude the person’s passkeys and ask for no attestation', async () => {
    const first = new SoftAuthenticator();
    expect((await register(first)).ok).toBe(true);
    session = await reload(session);
    const options = (await registrationOptions(deps, alice, session))!;
    expect(options.rp).toEqual({ id: RP.id, name: 'Acme Kubernetes' });
    expect(options.authenticatorSelection).toMatchObject({ userVerification: 'required', residentKey: 'preferred' });
    expect(options.attestation).toBe('none');
    expect(options.excludeCredentials).toEqual([{ id: first.id, type: 'public-key', transports: ['internal'] }]);
  });

  it('a good registration stores the public part, elevates the session (hwk), and hands out recovery codes once', async () => {
    const auth = new SoftAuthenticator();
    expect(await stageOf(deps, session, alice)).toBe('enrollment');
    const r = await register(auth);
    expect(r).toMatchObject({ ok: true, method: 'hwk' });
    expect(r.ok && r.recoveryCodes).toHaveLength(10);
    const [factor] = await store.listMfaFactors(alice.id);
    expect(factor).toMatchObject({ kind: 'webauthn', name: 'Laptop', credential_id: auth.id, counter: 0 });
    expect(factor!.confirmed_at).toBe(T0);
    expect(factor!.last_used_at).toBe(T0);
    expect(passkeyDataOf(factor!)).toMatchObject({ transports: ['internal'], backup_eligible: false, backed_up: false });
    expect((await reload(session)).amr).toEqual(['pwd', 'hwk', 'mfa']);
    expect((await store.listAudit({ limit: 5, kind: 'mfa.enrolled' }))[0]).toMatchObject({ user_id: alice.id, details: { kind: 'webauthn', name: 'Laptop' } });
  });

  it('a good sign-in with the passkey: session elevated with hwk + mfa, counter moved, last use recorded', async () => {
    const auth = new SoftAuthenticator({ counting: true, counter: 5 });
    await register(auth);
    const s2 = await signInAgain();
    expect(await stageOf(deps, s2, alice)).toBe('second_factor');
    const { result } = await authenticate(auth, s2);
    expect(result).toMatchObject({ ok: true, method: 'hwk' });
    expect((await reload(s2)).amr).toEqual(['pwd', 'hwk', 'mfa']);
    expect(await stageOf(deps, await reload(s2), alice)).toBe('complete');
    const [factor] = await store.listMfaFactors(alice.id);
    expect(factor).toMatchObject({ counter: 6, last_used_at: clock.now() });
  });

  it('a synced (backup-eligible, backed-up) passkey signs in as swk, and the backup state is audited', async () => {
    const auth = new SoftAuthenticator({ flags: { be: true, bs: true } });
    expect(await register(auth)).toMatchObject({ ok: true, method: 'swk' });
    expect(passkeyDataOf((await store.listMfaFactors(alice.id))[0]!)).toMatchObject({ backup_eligible: true, backed_up: true });
    const s2 = await signInAgain();
    expect((await authenticate(auth, s2)).result).toMatchObject({ ok: true, method: 'swk' });
    expect((await reload(s2)).amr).toEqual(['pwd', 'swk', 'mfa']);
    const verified = (await store.listAudit({ limit: 1, kind: 'mfa.verified' }))[0]!;
    expect(verified.details).toMatchObject({ method: 'webauthn', backup_eligible: true, backed_up: true });
  });

  it('refuses a registration made on another origin (a look-alike site relaying the ceremony)', async () => {
    const r = await register(new SoftAuthenticator(), session, alice, { origin: 'https://kubegate.example.com.evil.test' });
    expect(r).toEqual({ ok: false, reason: 'refused' });
    expect(await store.listMfaFactors(alice.id)).toHaveLength(0);
    expect(await failures()).toEqual([expect.objectContaining({ method: 'webauthn', reason: 'invalid_response', enrollment: true })]);
  });

  it('refuses a sign-in from another origin', async () => {
    const auth = new SoftAuthenticator();
    await register(auth);
    const s2 = await signInAgain();
    const { result } = await authenticate(auth, s2, { origin: 'https://evil.test' });
    expect(result).toEqual({ ok: false, reason: 'refused' });
    expect((await reload(s2)).amr).toEqual(['pwd']);
    expect(await failures()).toEqual([expect.objectContaining({ reason: 'invalid_response', detail: expect.stringContaining('origin') })]);
  });

  it('refuses a credential scoped to another RP id, at registration and at sign-in', async () => {
    expect(await register(new SoftAuthenticator(), session, alice, { rpId: 'example.com' })).toEqual({ ok: false, reason: 'refused' });
    const auth = new SoftAuthenticator();
    await register(auth);
    const s2 = await signInAgain();
    expect((await authenticate(auth, s2, { rpId: 'other.example.com' })).result).toEqual({ ok: false, reason: 'refused' });
    expect((await reload(s2)).amr).toEqual(['pwd']);
  });

  it('refuses when the authenticator did not verify the user (UV flag clear), at registration and at sign-in', async () => {
    expect(await register(new SoftAuthenticator(), session, alice, { flags: { uv: false } })).toEqual({ ok: false, reason: 'refused' });
    const auth = new SoftAuthenticator();
    await register(auth);
    const s2 = await signInAgain();
    expect((await authenticate(auth, s2, { flags: { uv: false } })).result).toEqual({ ok: false, reason: 'refused' });
    expect((await reload(s2)).amr).toEqual(['pwd']);
    expect((await failures()).at(-1)).toMatchObject({ detail: expect.stringMatching(/user could not be verified/i) });
  });

  it('a challenge works once: the same response replayed is refused, and so is one after five minutes', async () => {
    const auth = new SoftAuthenticator();
    await register(auth);
    const s2 = await signInAgain();
    const { response, result } = await authenticate(auth, s2);
    expect(result.ok).toBe(true);
    expect(await verifyAuthentication(deps, alice, s2, response, meta)).toEqual({ ok: false, reason: 'no_challenge' });

    const s3 = await signInAgain();
    const options = (await authenticationOptions(deps, alice, s3))!;
    clock.advance(5 * MINUTE + 1);
    const late = AuthenticationResponseSchema.parse(auth.authenticate({ challenge: options.challenge, origin: RP.origin, rpId: RP.id }));
    expect(await verifyAuthentication(deps, alice, s3, late, meta)).toEqual({ ok: false, reason: 'no_challenge' });
    expect((await reload(s3)).amr).toEqual(['pwd']);
  });

  it('a challenge is bound to its login session: a response made for one session does not elevate another', async () => {
    const auth = new SoftAuthenticator();
    await register(auth);
    const victim = await signInAgain();
    const attacker = await signInAgain();
    const options = (await authenticationOptions(deps, alice, victim))!;
    await authenticationOptions(deps, alice, attacker);
    const response = AuthenticationResponseSchema.parse(auth.authenticate({ challenge: options.challenge, origin: RP.origin, rpId: RP.id }));
    expect(await verifyAuthentication(deps, alice, attacker, response, meta)).toEqual({ ok: false, reason: 'refused' });
    expect((await reload(attacker)).amr).toEqual(['pwd']);
  });

  it('a signature counter that goes backwards, or stays, is a cloned authenticator: refused and audited', async () => {
    const auth = new SoftAuthenticator({ counting: true, counter: 10 });
    await register(auth);
    expect((await authenticate(auth, await signInAgain())).result.ok).toBe(true); // 11
    const back = await signInAgain();
    expect((await authenticate(auth, back, { step: -3 })).result).toEqual({ ok: false, reason: 'refused' }); // 8
    const same = await signInAgain();
    auth.counter = 11;
    expect((await authenticate(auth, same, { step: 0 })).result).toEqual({ ok: false, reason: 'refused' }); // 11 again
    expect((await reload(back)).amr).toEqual(['pwd']);
    expect((await reload(same)).amr).toEqual(['pwd']);
    expect((await failures()).slice(-2)).toEqual([
      expect.objectContaining({ reason: 'cloned_authenticator', stored_counter: 11, counter: 8 }),
      expect.objectContaining({ reason: 'cloned_authenticator', stored_counter: 11, counter: 11 }),
    ]);
    expect((await store.listMfaFactors(alice.id))[0]!.counter).toBe(11);
  });

  it('a passkey whose counter stays 0 (most platform passkeys) keeps working', async () => {
    const auth = new SoftAuthenticator();
    await register(auth);
    for (let i = 0; i < 2; i++) expect((await authenticate(auth, await signInAgain())).result.ok).toBe(true);
  });

  it('another person’s passkey does not verify this person, even with a valid signature', async () => {
    const bob = await store.upsertUser({ ...ALICE, subject: 'bob-sub', username: 'bob', email: 'bob@example.com' }, T0);
    const bobs = new SoftAuthenticator();
    expect((await register(bobs, await newSession(bob, 'bob-1'), bob)).ok).toBe(true);
    await register(new SoftAuthenticator());
    const s2 = await signInAgain();
    const options = (await authenticationOptions(deps, alice, s2))!;
    expect(options.allowCredentials!.map((c) => c.id)).not.toContain(bobs.id);
    const response = AuthenticationResponseSchema.parse(bobs.authenticate({ challenge: options.challenge, origin: RP.origin, rpId: RP.id }));
    expect(await verifyAuthentication(deps, alice, s2, response, meta)).toEqual({ ok: false, reason: 'refused' });
    expect((await reload(s2)).amr).toEqual(['pwd']);
    expect((await failures()).at(-1)).toMatchObject({ reason: 'unknown_credential' });
  });

  it('adding a second passkey needs a session that showed a factor; the same credential cannot be registered twice', async () => {
    const auth = new SoftAuthenticator();
    await register(auth);
    const fresh = await signInAgain();
    expect(await registrationOptions(deps, alice, fresh)).toBeUndefined();
    session = await reload(session);
    expect(await register(auth)).toEqual({ ok: false, reason: 'already_registered' });
    const second = await register(new SoftAuthenticator());
    expect(second).toMatchObject({ ok: true });
    expect(second.ok && second.recoveryCodes).toBeUndefined();
    expect(await store.listMfaFactors(alice.id)).toHaveLength(2);
  });

  it('passkey attempts share the second-factor throttle: after repeated failures even a good response is not tried', async () => {
    const auth = new SoftAuthenticator();
    await register(auth);
    const s2 = await signInAgain();
    let last;
    for (let i = 0; i < 30; i++) {
      last = (await authenticate(auth, s2, { origin: 'https://evil.test' })).result;
      if (!last.ok && last.reason === 'rate_limited') break;
    }
    expect(last).toMatchObject({ ok: false, reason: 'rate_limited' });
    expect((await authenticate(auth, s2)).result).toMatchObject({ ok: false, reason: 'rate_limited' });
    expect((await reload(s2)).amr).toEqual(['pwd']);
  });
});
