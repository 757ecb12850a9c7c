import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignInThrottle } from '../auth/rate-limit';
import type { ResolvedConfig } from '../config/load';
import { openSqliteStore } from '../store/sqlite';
import type { LoginSession, Store, User } from '../store/types';
import { upstreamsOf } from '../upstream/registry';
import { SignInRefused, type SignInDeps } from '../upstream/sign-in';
import { silentLogger } from '../util/log';
import { ALICE, ENDPOINT_CONFIG_YAML, parseTestConfig, T0, TestClock, testKek } from '../../test/support/fixtures';
import { SoftAuthenticator } from '../../test/support/soft-authenticator';
import { openPasswordlessSession, passwordlessEnabled, passwordlessOptions } from './passkey-login';
import { RegistrationResponseSchema, registrationOptions, relyingPartyOf, verifyRegistration, type PasskeyDeps } from './webauthn';

const meta = { clientIp: '192.0.2.7', userAgent: null };
let config: ResolvedConfig;
let store: Store;
let deps: PasskeyDeps;
let signInDeps: SignInDeps;
let alice: User;
let auth: SoftAuthenticator;

async function enroll(user: User, authenticator: SoftAuthenticator): Promise<void> {
  const session: LoginSession = await store.createLoginSession(
    { id: `enroll-${user.id}`, user_id: user.id, upstream: user.upstream, amr: ['pwd'], auth_time: T0, expires_at: T0 + 3_600_000, client_ip: null, user_agent: null },
    T0,
  );
  const options = (await registrationOptions(deps, user, session))!;
  const response = RegistrationResponseSchema.parse(authenticator.register({ challenge: options.challenge, origin: deps.rp.origin, rpId: deps.rp.id }));
  const r = await verifyRegistration(deps, user, session, { response, name: 'Laptop' }, meta);
  if (!r.ok) throw new Error(r.reason);
}

beforeEach(async () => {
  config = parseTestConfig(ENDPOINT_CONFIG_YAML + 'mfa:\n  passwordless_local: true\n');
  store = await openSqliteStore(':memory:');
  const clock = new TestClock(T0);
  const throttle = new SignInThrottle(clock.now);
  deps = { store, now: clock.now, log: silentLogger, kek: await testKek(), throttle, policy: { everyone: false, groups: [] }, totpIssuer: 'K', rp: relyingPartyOf(config) };
  signInDeps = { store, now: clock.now, log: silentLogger, sessionLifetimeMs: 3_600_000, throttle: new SignInThrottle(clock.now) };
  alice = await store.upsertUser(ALICE, T0);
  auth = new SoftAuthenticator();
  await enroll(alice, auth);
});
afterEach(() => store.close());

/** The browser's side: options, then the assertion; `userHandle` as a discoverable credential returns it. */
async function answer(over: { userHandle?: string; origin?: string } = {}) {
  const { flow, options } = await passwordlessOptions(deps);
  expect(options.allowCredentials ?? []).toEqual([]);
  expect(options.userVerification).toBe('required');
  const response = auth.authenticate({ challenge: options.challenge, origin: over.origin ?? deps.rp.origin, rpId: deps.rp.id, userHandle: over.userHandle ?? alice.id });
  return { flow, response: JSON.stringify(response) };
}

const open = (raw: unknown, cfg = config) => openPasswordlessSession(deps, signInDeps, upstreamsOf(cfg), raw, meta);
const refusedWith = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SignInRefused);
  return (err as SignInRefused).code;
};

describe('a passkey as the whole sign-in (local accounts)', () => {
  it('is on only where configured and a local upstream exists', () => {
    expect(passwordlessEnabled(config, upstreamsOf(config))).toBe(true);
    const off = parseTestConfig();
    expect(passwordlessEnabled(off, upstreamsOf(off))).toBe(false);
  });

  it('opens a complete session for the passkey’s owner, with their groups from the config, amr hwk + mfa', async () => {
    const sid = await open(await answer());
    const found = (await store.getLoginSession(sid))!;
    expect(found.user.username).toBe('alice');
    expect(found.user.groups).toEqual(['ops', 'dev']);
    expect(found.session.amr).toEqual(['hwk', 'mfa']);
  });

  it('an answer works once, and only with the flow (browser) that asked for it', async () => {
    const a = await answer();
    await open(a);
    expect(await refusedWith(open(a))).toBe('invalid_response');
    const b = await answer();
    const other = await passwordlessOptions(deps);
    expect(await refusedWith(open({ ...b, flow: other.flow }))).toBe('invalid_response');
    expect(await refusedWith(open({ ...b, flow: '' }))).toBe('invalid_response');
  });

  it('refuses an answer from another origin, or whose user handle is not the credential’s owner', async () => {
    expect(await refusedWith(open(await answer({ origin: 'https://evil.test' })))).toBe('invalid_response');
    expect(await refusedWith(open(await answer({ userHandle: 'someone-else' })))).toBe('invalid_response');
    const failures = await store.listAudit({ limit: 10, kind: 'session.login_failed' });
    expect(failures.map((f) => f.details.upstream)).toEqual(['passkey', 'passkey']);
  });

  it('is for local accounts only: the passkey of a person from an OIDC upstream does not sign in', async () => {
    const oidcPerson = await store.upsertUser({ upstream: 'corp', subject: 'c-1', username: 'carol', email: null, name: null, groups: [] }, T0);
    auth = new SoftAuthenticator();
    await enroll(oidcPerson, auth);
    expect(await refusedWith(open(await answer({ userHandle: oidcPerson.id })))).toBe('not_allowed');
  });

  it('a person taken out of the config cannot sign in with their passkey', async () => {
    const without = parseTestConfig(ENDPOINT_CONFIG_YAML.replace(/users:[\s\S]*$/, 'users: []\n') + 'mfa:\n  passwordless_local: true\n');
    expect(await refusedWith(open(await answer(), without))).toBe('disabled');
  });

  it('a malformed answer is refused, not thrown', async () => {
    expect(await refusedWith(open({ flow: 'x', response: '{not json' }))).toBe('invalid_response');
    expect(await refusedWith(open({ flow: 'x', response: JSON.stringify({ id: 'x' }) }))).toBe('invalid_response');
  });
});
