import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { csrfToken } from '../auth/csrf';
import { SignInThrottle } from '../auth/rate-limit';
import { openSqliteStore } from '../store/sqlite';
import type { LoginSession, Store, User } from '../store/types';
import { silentLogger } from '../util/log';
import { ALICE, T0, TestClock, testKek } from '../../test/support/fixtures';
import { SoftAuthenticator } from '../../test/support/soft-authenticator';
import { handlePasskeyAction, type PasskeyAction, type PasskeyEndpointContext } from './passkey-endpoint';
import { relyingPartyOf } from './webauthn';

const SECRET = 'auth-secret-for-tests';
const RP = relyingPartyOf({ issuer: { url: 'https://kubegate.example.com' }, branding: { title: 'Kubegate' } });
let store: Store;
let ctx: PasskeyEndpointContext;
let user: User;
let session: LoginSession;

beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  const clock = new TestClock(T0);
  user = await store.upsertUser({ ...ALICE, groups: ['admins'] }, T0);
  session = await store.createLoginSession(
    { id: 'sess-1', user_id: user.id, upstream: user.upstream, amr: ['pwd'], auth_time: T0, expires_at: T0 + 3_600_000, client_ip: null, user_agent: null },
    T0,
  );
  const deps = { store, now: clock.now, log: silentLogger, kek: await testKek(), throttle: new SignInThrottle(clock.now), policy: { everyone: true, groups: [] }, totpIssuer: 'K', rp: RP };
  ctx = { deps, authSecret: SECRET, session, user, clientIp: '192.0.2.9' };
});
afterEach(() => store.close());

function post(action: PasskeyAction, body: unknown, headers: Record<string, string> = {}) {
  const req = new Request(`${RP.origin}/api/passkeys/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: RP.origin, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return handlePasskeyAction(req, action, ctx);
}

const csrf = () => csrfToken(SECRET, session.id);

describe('passkey endpoints', () => {
  it('run the whole ceremony over JSON: register, then sign in on a new session; every answer is no-store', async () => {
    const auth = new SoftAuthenticator();
    const regOptions = await post('register-options', { csrf: csrf() });
    expect(regOptions.status).toBe(200);
    expect(regOptions.headers.get('cache-control')).toBe('no-store');
    const { challenge } = (await regOptions.json()) as { challenge: string };
    const reg = await post('register', { csrf: csrf(), name: 'Phone', next: '/clusters/prod', response: auth.register({ challenge, origin: RP.origin, rpId: RP.id }) });
    expect(reg.status).toBe(200);
    const regBody = (await reg.json()) as { next: string; recoveryCodes: string[] };
    expect(regBody.next).toBe('/clusters/prod');
    expect(regBody.recoveryCodes).toHaveLength(10);

    session = await store.createLoginSession(
      { id: 'sess-2', user_id: user.id, upstream: user.upstream, amr: ['pwd'], auth_time: T0, expires_at: T0 + 3_600_000, client_ip: null, user_agent: null },
      T0,
    );
    ctx = { ...ctx, session };
    const authOptions = await post('authenticate-options', { csrf: csrf() });
    const options = (await authOptions.json()) as { challenge: string; allowCredentials: { id: string }[]; userVerification: string };
    expect(options.allowCredentials.map((c) => c.id)).toEqual([auth.id]);
    expect(options.userVerification).toBe('required');
    const done = await post('authenticate', { csrf: csrf(), next: 'https://evil.test/', response: auth.authenticate({ challenge: options.challenge, origin: RP.origin, rpId: RP.id }) });
    expect(done.status).toBe(200);
    // An off-site `next` is never followed.
    expect(await done.json()).toEqual({ ok: true, next: '/' });
    expect((await store.getLoginSession('sess-2'))!.session.amr).toEqual(['pwd', 'hwk', 'mfa']);
  });

  it('refuse another origin, a missing Origin, and a token of another session', async () => {
    expect((await post('register-options', { csrf: csrf() }, { origin: 'https://evil.test' })).status).toBe(403);
    const noOrigin = new Request(`${RP.origin}/api/passkeys/register-options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csrf: csrf() }) });
    expect((await handlePasskeyAction(noOrigin, 'register-options', ctx)).status).toBe(403);
    const foreign = await post('register-options', { csrf: csrfToken(SECRET, 'another-session') });
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ error: 'not_from_portal' });
    expect(await store.listMfaFactors(user.id)).toHaveLength(0);
  });

  it('name the fields that are wrong, and take only JSON', async () => {
    const bad = await post('register', { csrf: csrf(), name: '', response: { id: 'x' } });
    expect(bad.status).toBe(400);
    const { issues } = (await bad.json()) as { issues: string[] };
    expect(issues.join('\n')).toMatch(/^name: give the passkey a name$/m);
    expect(issues.join('\n')).toMatch(/^response\.rawId: /m);
    expect((await post('register-options', `csrf=${csrf()}`, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(400);
    expect((await post('register-options', '{not json')).status).toBe(400);
  });

  it('a person with no passkeys gets no sign-in options', async () => {
    const r = await post('authenticate-options', { csrf: csrf() });
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: 'no_passkeys' });
  });
});
