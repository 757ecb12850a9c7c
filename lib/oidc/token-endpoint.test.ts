import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ALICE,
  basicAuth,
  bodyOf,
  ENDPOINT_CONFIG_YAML,
  HOUR,
  LOCAL_PASSWORD_HASH,
  MINUTE,
  openTestEnv,
  parseTestConfig,
  refreshRequest,
  SECOND,
  STAGING_SECRET,
  storeSnapshot,
  type TestEnv,
  type TokenSuccess,
} from '../../test/support/fixtures';
import type { ResolvedConfig } from '../config/load';
import { StoreUnavailableError } from '../store/errors';
import type { Store } from '../store/types';
import type { IssuerRequest, IssuerResponse } from './http';
import { handleTokenRequest } from './token-endpoint';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const ISSUER = 'https://kubegate.example.com';
const FORM = 'application/x-www-form-urlencoded';
const form = (fields: Array<[string, string]>) => new URLSearchParams(fields).toString();
const GRACE = 10 * SECOND;
const flushDenials = () => env.rt.issuerDeps.denials.flush(env.store, env.clock.now(), env.rt.log);

async function verify(idToken: string, audience = 'kubernetes'): Promise<JWTPayload> {
  const jwks = createLocalJWKSet(JSON.parse(env.rt.keys.jwksJson()));
  const { payload } = await jwtVerify(idToken, jwks, { issuer: ISSUER, audience, currentDate: new Date(env.clock.now()), algorithms: ['RS256'] });
  return payload;
}

function expectSuccess(res: IssuerResponse): TokenSuccess {
  expect(res.status, res.body).toBe(200);
  return bodyOf<TokenSuccess>(res);
}

/** The standard OAuth error JSON (RFC 6749 §5.2): two fields, no stack, never cached. */
function expectOAuthError(res: IssuerResponse, status: number, error: string): string {
  expect(res.status, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  const body = bodyOf<{ error: string; error_description: string }>(res);
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toBe(error);
  expect(body.error_description).not.toMatch(/\n|\bat .*\(|\.ts\b|\.js\b|node_modules|SQLITE/);
  return body.error_description;
}

describe('token endpoint: a successful refresh', () => {
  it('answers a fresh id_token and a rotated refresh token, never cached', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(50 * SECOND + 500); // kubectl refreshes shortly before expiry; not on a whole second
    const res = await env.refresh(minted.refreshToken);
    const body = expectSuccess(res);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.pragma).toBe('no-cache');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(body).toEqual({
      access_token: body.id_token,
      token_type: 'Bearer',
      expires_in: 60,
      id_token: expect.any(String),
      refresh_token: expect.stringMatching(/^kgr_[A-Za-z0-9_-]{43}$/),
      scope: 'openid',
    });
    expect(body.refresh_token).not.toBe(minted.refreshToken);

    const header = decodeProtectedHeader(body.id_token);
    expect(header).toEqual({ alg: 'RS256', kid: env.rt.keys.current().kid, typ: 'JWT' });
    const claims = await verify(body.id_token);
    const iat = Math.floor(env.clock.now() / 1000);
    expect(claims).toEqual({
      iss: ISSUER,
      sub: minted.user.id,
      aud: 'kubernetes',
      iat,
      exp: iat + 60,
      auth_time: Math.floor(minted.session.auth_time / 1000),
      preferred_username: 'alice',
      groups: ['ops', 'dev'],
      amr: ['pwd'],
      acr: 'aal1',
      email: 'alice@example.com',
      name: 'Alice Admin',
    });
    // `sub` is the stable user id: never the email, the username or the upstream subject.
    expect([ALICE.email, ALICE.username, ALICE.subject]).not.toContain(claims.sub);

    const [event] = await env.store.listAudit({ limit: 1 });
    expect(event).toMatchObject({
      kind: 'token.refreshed',
      family_id: minted.family.id,
      user_id: minted.user.id,
      username: 'alice',
      cluster: 'prod',
      client_ip: '192.0.2.20',
      request_id: 'req-test',
      details: { generation: 1 },
    });
  });

  it('accepts the form-encoded content type with a charset, and kubectl\'s form retry', async () => {
    const minted = await env.mint('prod');
    const req = refreshRequest(minted.refreshToken, { clientId: 'kubernetes', style: 'form' });
    req.headers['content-type'] = 'application/x-www-form-urlencoded; charset=UTF-8';
    expectSuccess(await env.token(req));
  });

  it('omits name and email when the user has none', async () => {
    const s = await env.signIn({ upstream: 'corp', subject: 'bob-sub', username: 'bob', groups: ['ops'] });
    const minted = await env.mint('prod', s);
    const claims = await verify(expectSuccess(await env.refresh(minted.refreshToken)).id_token);
    expect(claims).not.toHaveProperty('email');
    expect(claims).not.toHaveProperty('name');
    expect(claims.preferred_username).toBe('bob');
  });

  it('never lets the id_token outlive the login session', async () => {
    const s = await env.signIn(ALICE, { lifetimeMs: 10 * MINUTE });
    const minted = await env.mint('prod', s);
    expect(minted.idTokenExpiresAt).toBe(env.clock.now() + 60 * SECOND);
    env.clock.advance(10 * MINUTE - 25 * SECOND);
    const body = expectSuccess(await env.refresh(minted.refreshToken));
    const claims = await verify(body.id_token);
    expect(claims.exp).toBe(Math.floor(s.session.expires_at / 1000));
    expect(body.expires_in).toBe(25);
  });

  it("picks up an OIDC user's changed profile and groups from the user record on the next refresh", async () => {
    const corp = { upstream: 'corp', subject: 'carol-sub', username: 'carol', email: null, name: 'Carol', groups: ['ops'] };
    const minted = await env.mint('prod', await env.signIn(corp));
    await env.store.upsertUser({ ...corp, groups: ['ops', 'oncall'], name: 'Carol C.' }, env.clock.now());
    const claims = await verify(expectSuccess(await env.refresh(minted.refreshToken)).id_token);
    expect(claims).toMatchObject({ sub: minted.user.id, groups: ['ops', 'oncall'], name: 'Carol C.' });
  });
});

describe('token endpoint: rotation and reuse', () => {
  it('rotates on every refresh; each token works once', async () => {
    const minted = await env.mint('prod');
    const seen = new Set([minted.refreshToken]);
    let token = minted.refreshToken;
    for (let i = 0; i < 5; i++) {
      env.clock.advance(50 * SECOND);
      token = expectSuccess(await env.refresh(token)).refresh_token;
      expect(seen.has(token)).toBe(false);
      seen.add(token);
    }
    expect((await env.store.getFamily(minted.family.id))!.generation).toBe(5);
  });

  it('replays the SAME successor to a spent token within the grace window', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(50 * SECOND);
    const first = expectSuccess(await env.refresh(minted.refreshToken));
    env.clock.advance(GRACE); // exactly at the grace limit
    const again = expectSuccess(await env.refresh(minted.refreshToken));
    expect(again.refresh_token).toBe(first.refresh_token);
    await verify(again.id_token);
    expect((await env.store.getFamily(minted.family.id))!.generation).toBe(1);
    expect(await env.store.listAudit({ limit: 10, kind: 'token.refresh_replayed' })).toEqual([
      expect.objectContaining({ family_id: minted.family.id, details: { generation: 0, steps: 1 } }),
    ]);
    // The successor is still the head and rotates normally.
    expectSuccess(await env.refresh(first.refresh_token));
  });

  it('replays across several generations to the current head', async () => {
    const minted = await env.mint('prod');
    const t1 = expectSuccess(await env.refresh(minted.refreshToken)).refresh_token;
    env.clock.advance(SECOND);
    const t2 = expectSuccess(await env.refresh(t1)).refresh_token;
    env.clock.advance(SECOND);
    expect(expectSuccess(await env.refresh(minted.refreshToken)).refresh_token).toBe(t2);
  });

  it('lets two concurrent refreshes of one token both succeed, as one family', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(50 * SECOND);
    const [a, b] = await Promise.all([env.refresh(minted.refreshToken), env.refresh(minted.refreshToken)]);
    const ba = expectSuccess(a);
    const bb = expectSuccess(b);
    expect(ba.refresh_token).toBe(bb.refresh_token);
    await verify(ba.id_token);
    await verify(bb.id_token);

    // Both holders go on with the same successor, again concurrently.
    env.clock.advance(50 * SECOND);
    const [c, d] = await Promise.all([env.refresh(ba.refresh_token), env.refresh(bb.refresh_token)]);
    expect(expectSuccess(c).refresh_token).toBe(expectSuccess(d).refresh_token);
    const fam = await env.store.getFamily(minted.family.id);
    expect(fam).toMatchObject({ generation: 2, revoked_at: null });
    expect(await env.store.listAudit({ limit: 10, kind: 'token.reuse_detected' })).toEqual([]);
  });

  it('answers the loser of a lost compare-and-set with the winner\'s successor (both read before either wrote)', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(50 * SECOND);
    // A barrier: both requests finish their read before either rotates.
    let waiting = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    const results: string[] = [];
    const racing = new Proxy(env.store, {
      get(target, prop, receiver) {
        if (prop === 'findRefreshContext') {
          return async (hash: string) => {
            const ctx = await target.findRefreshContext(hash);
            if (++waiting === 2) release();
            if (waiting <= 2) await bothRead;
            return ctx;
          };
        }
        if (prop === 'rotateRefreshToken') {
          return async (...args: Parameters<Store['rotateRefreshToken']>) => {
            const r = await target.rotateRefreshToken(...args);
            results.push(r);
            return r;
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }) as Store;
    const deps = { ...env.rt.issuerDeps, store: racing };
    const req = () => refreshRequest(minted.refreshToken, { clientId: 'kubernetes' });
    const [a, b] = await Promise.all([handleTokenRequest(req(), deps), handleTokenRequest(req(), deps)]);
    expect(results.sort()).toEqual(['already_used', 'rotated']);
    expect(expectSuccess(a).refresh_token).toBe(expectSuccess(b).refresh_token);
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ generation: 1, revoked_at: null });
  });

  it('after the grace window: invalid_grant, the family is revoked and audited, and the head stops working too', async () => {
    const minted = await env.mint('prod');
    const other = await env.mint('staging', { user: minted.user, session: minted.session });
    env.clock.advance(50 * SECOND);
    const head = expectSuccess(await env.refresh(minted.refreshToken)).refresh_token;
    env.clock.advance(GRACE + 1);

    const description = expectOAuthError(await env.refresh(minted.refreshToken), 400, 'invalid_grant');
    expect(description).toMatch(/already used/);
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoked_at: env.clock.now(), revoke_reason: 'refresh_token_reuse' });
    const events = await env.store.listAudit({ limit: 10, kind: 'token.reuse_detected' });
    expect(events).toEqual([
      expect.objectContaining({
        family_id: minted.family.id,
        user_id: minted.user.id,
        cluster: 'prod',
        client_ip: '192.0.2.20',
        details: expect.objectContaining({ generation: 0, head_generation: 1, reason: 'refresh_token_reuse' }),
      }),
    ]);

    // The legitimate holder of the head is cut off as well: someone else had a copy.
    expectOAuthError(await env.refresh(head), 400, 'invalid_grant');
    expectOAuthError(await env.refresh(minted.refreshToken), 400, 'invalid_grant');
    expect(await env.store.listAudit({ limit: 10, kind: 'token.reuse_detected' })).toHaveLength(1);
    // Another credential (family) of the same sign-in is not affected.
    expectSuccess(await env.refresh(other.refreshToken, 'staging'));
  });
});

describe('token endpoint: expiry and revocation', () => {
  it('honours the idle timeout, counting from the last use', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(15 * MINUTE); // exactly the idle timeout: still alive
    const next = expectSuccess(await env.refresh(minted.refreshToken)).refresh_token;
    env.clock.advance(15 * MINUTE + 1);
    expect(expectOAuthError(await env.refresh(next), 400, 'invalid_grant')).toBe(
      'this credential expired after 15m without use; get a new one at https://kubegate.example.com',
    );
    await flushDenials();
    expect(await env.store.listAudit({ limit: 1 })).toEqual([
      expect.objectContaining({ kind: 'token.refresh_denied', details: expect.objectContaining({ reason: 'idle_timeout', generation: 1, count: 1 }) }),
    ]);
    // A denial does not consume or revoke: it simply stays dead.
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoked_at: null, generation: 1 });
  });

  it('ends at the absolute session expiry however active kubectl is', async () => {
    const s = await env.signIn(ALICE, { lifetimeMs: 2 * HOUR });
    let token = (await env.mint('prod', s)).refreshToken;
    for (let t = 0; t < 2 * HOUR - 10 * MINUTE; t += 10 * MINUTE) {
      env.clock.advance(10 * MINUTE);
      token = expectSuccess(await env.refresh(token)).refresh_token;
    }
    env.clock.set(s.session.expires_at);
    expect(expectOAuthError(await env.refresh(token), 400, 'invalid_grant')).toMatch(/expired/);
  });

  it('refuses every family of a revoked login session (sign-out)', async () => {
    const minted = await env.mint('prod');
    const other = await env.mint('staging', { user: minted.user, session: minted.session });
    const head = expectSuccess(await env.refresh(minted.refreshToken)).refresh_token;
    await env.store.revokeLoginSession(minted.session.id, 'sign_out', env.clock.now(), { kind: 'session.logout' });
    env.clock.advance(SECOND);
    expectOAuthError(await env.refresh(head), 400, 'invalid_grant');
    expectOAuthError(await env.refresh(other.refreshToken, 'staging'), 400, 'invalid_grant');
    // Even inside the grace window a spent token gets nothing.
    expectOAuthError(await env.refresh(minted.refreshToken), 400, 'invalid_grant');
  });
});

describe('token endpoint: audience binding', () => {
  it("refuses a token minted for cluster A when cluster B's client presents it", async () => {
    const prod = await env.mint('prod');
    const before = await env.store.getFamily(prod.family.id);
    const res = await env.refresh(prod.refreshToken, 'staging'); // correct staging secret, wrong token
    expect(expectOAuthError(res, 400, 'invalid_grant')).toMatch(/not issued to this client/);
    // Nothing consumed: the rightful client still refreshes, with aud = its own client_id.
    expect(await env.store.getFamily(prod.family.id)).toEqual(before);
    const claims = await verify(expectSuccess(await env.refresh(prod.refreshToken, 'prod')).id_token, 'kubernetes');
    expect(claims.aud).toBe('kubernetes');

    const staging = await env.mint('staging');
    expectOAuthError(await env.refresh(staging.refreshToken, 'prod'), 400, 'invalid_grant');
    expectOAuthError(await env.refresh(staging.refreshToken, 'lab'), 400, 'invalid_grant');
    const stagingClaims = await verify(expectSuccess(await env.refresh(staging.refreshToken, 'staging')).id_token, 'staging');
    expect(stagingClaims.aud).toBe('staging');
  });

  it('keeps the minted id_token bound to the cluster too', async () => {
    const minted = await env.mint('staging');
    await verify(minted.idToken, 'staging');
    await expect(verify(minted.idToken, 'kubernetes')).rejects.toThrow(/aud/);
  });
});

describe('token endpoint: confidential clients', () => {
  it('accepts Basic, accepts the form retry, and refuses a wrong secret without consuming the token', async () => {
    const minted = await env.mint('staging');
    const wrong = await env.token(refreshRequest(minted.refreshToken, { clientId: 'staging', secret: 'wrong' }));
    expectOAuthError(wrong, 401, 'invalid_client');
    expect(wrong.headers['www-authenticate']).toBe('Basic realm="kubegate"');
    const wrongForm = await env.token(refreshRequest(minted.refreshToken, { clientId: 'staging', secret: 'wrong', style: 'form' }));
    expectOAuthError(wrongForm, 401, 'invalid_client');
    expect(wrongForm.headers['www-authenticate']).toBeUndefined();

    const t1 = expectSuccess(await env.refresh(minted.refreshToken, 'staging')).refresh_token;
    expectSuccess(await env.token(refreshRequest(t1, { clientId: 'staging', secret: STAGING_SECRET, style: 'form' })));
  });

  it('accepts a client_id that needs urlencoding inside Basic', async () => {
    const minted = await env.mint('lab');
    const req = refreshRequest(minted.refreshToken, { clientId: 'a:b', secret: 'lab secret' });
    expect(req.headers.authorization).toBe(basicAuth('a:b', 'lab secret'));
    expect(Buffer.from(String(req.headers.authorization).slice(6), 'base64').toString()).toBe('a%3Ab:lab+secret');
    expectSuccess(await env.token(req));
  });
});

describe('token endpoint: malformed requests write nothing', () => {
  const rows: Array<{ name: string; req: (t: string) => IssuerRequest; status: number; error: string }> = [
    { name: 'GET', req: () => ({ method: 'GET', headers: {}, body: '' }), status: 405, error: 'invalid_request' },
    { name: 'PUT', req: (t) => ({ method: 'PUT', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t]]) }), status: 405, error: 'invalid_request' },
    { name: 'a JSON body', req: (t) => ({ method: 'POST', headers: { 'content-type': 'application/json', authorization: basicAuth('kubernetes') }, body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: t }) }), status: 400, error: 'invalid_request' },
    { name: 'no content type', req: (t) => ({ method: 'POST', headers: { authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t]]) }), status: 400, error: 'invalid_request' },
    { name: 'a look-alike content type', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM + 'revoked_by_user', authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t]]) }), status: 400, error: 'invalid_request' },
    { name: 'a duplicated refresh_token', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t], ['refresh_token', t]]) }), status: 400, error: 'invalid_request' },
    { name: 'a duplicated grant_type', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['grant_type', 'refresh_token'], ['refresh_token', t]]) }), status: 400, error: 'invalid_request' },
    { name: 'a duplicated client_id', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t], ['client_id', 'kubernetes'], ['client_id', 'staging']]) }), status: 400, error: 'invalid_request' },
    { name: 'no grant_type', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['refresh_token', t]]) }), status: 400, error: 'invalid_request' },
    { name: 'an empty grant_type', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', ''], ['refresh_token', t]]) }), status: 400, error: 'invalid_request' },
    ...['password', 'client_credentials', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer'].map((g) => ({
      name: `grant_type ${g}`,
      req: (t: string) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', g], ['refresh_token', t], ['code', 'x'], ['username', 'alice'], ['password', 'pw']]) }),
      status: 400,
      error: 'unsupported_grant_type',
    })),
    // The other grants this endpoint serves, missing what each needs (lib/oidc/grants/*.test.ts hold the rest).
    { name: 'authorization_code without redirect_uri', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'authorization_code'], ['refresh_token', t], ['code', 'x']]) }), status: 400, error: 'invalid_request' },
    { name: 'device_code grant without device_code', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'urn:ietf:params:oauth:grant-type:device_code'], ['refresh_token', t]]) }), status: 400, error: 'invalid_request' },
    { name: 'no refresh_token', req: () => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token']]) }), status: 400, error: 'invalid_request' },
    { name: 'an empty refresh_token', req: () => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', '']]) }), status: 400, error: 'invalid_request' },
    ...([
      ['not a token', 'hello'],
      ['a token one character short', (t: string) => t.slice(0, -1)],
      ['a token one character long', (t: string) => t + 'A'],
      ['a token without its prefix', (t: string) => t.slice(4)],
      ['a token with a space in it', (t: string) => t.slice(0, 10) + ' ' + t.slice(11)],
      ['a well-formed unknown token', (t: string) => t.slice(0, -2) + (t.endsWith('AA') ? 'BB' : 'AA')],
      ['a SQL-looking token', "kgr_' OR '1'='1"],
    ] as const).map(([what, make]) => ({
      name: what,
      req: (t: string) => refreshRequest(typeof make === 'string' ? make : make(t), { clientId: 'kubernetes' }),
      status: 400,
      error: 'invalid_grant',
    })),
    { name: 'an oversized body', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t], ['pad', 'x'.repeat(17 * 1024)]]) }), status: 413, error: 'invalid_request' },
    { name: 'no client authentication', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t]]) }), status: 401, error: 'invalid_client' },
    { name: 'an unknown client', req: (t) => refreshRequest(t, { clientId: 'intruder' }), status: 401, error: 'invalid_client' },
    { name: 'a public client sending a secret', req: (t) => refreshRequest(t, { clientId: 'kubernetes', secret: 'x' }), status: 401, error: 'invalid_client' },
    { name: 'Basic and a form secret at once', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t], ['client_secret', '']]) }), status: 400, error: 'invalid_request' },
    { name: 'Basic and a different form client_id', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t], ['client_id', 'staging']]) }), status: 400, error: 'invalid_request' },
    { name: 'a malformed Basic header', req: (t) => ({ method: 'POST', headers: { 'content-type': FORM, authorization: 'Basic ***' }, body: form([['grant_type', 'refresh_token'], ['refresh_token', t]]) }), status: 401, error: 'invalid_client' },
  ];

  it.each(rows)('$name → $status $error', async ({ req, status, error }) => {
    const minted = await env.mint('prod');
    const before = await storeSnapshot(env.store);
    const res = await env.token(req(minted.refreshToken));
    expectOAuthError(res, status, error);
    if (status === 405) expect(res.headers.allow).toBe('POST');
    expect(await storeSnapshot(env.store)).toBe(before);
    // The presented token was not consumed.
    expect((await env.store.findRefreshContext((await import('./refresh-tokens')).hashRefreshToken(minted.refreshToken)))!.token.used_at).toBeNull();
  });
});

describe('token endpoint: error descriptions a person can act on', () => {
  it.each([
    ['no grant_type', form([['refresh_token', 'kgr_x']]), 'grant_type is required'],
    ['no refresh_token', form([['grant_type', 'refresh_token']]), 'refresh_token is required'],
  ])('%s → %s', async (_, body, description) => {
    const res = await env.token({ method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth('kubernetes') }, body });
    expect(expectOAuthError(res, 400, 'invalid_request')).toBe(description);
  });
});

describe('token endpoint: unexpected failures', () => {
  it('answers a generic 500 and logs the request id, never the cause text to the client nor the token to the log', async () => {
    const minted = await env.mint('prod');
    const failing = new Proxy(env.store, {
      get(target, prop, receiver) {
        if (prop === 'findRefreshContext') {
          return () => Promise.reject(new Error('SQLITE_CORRUPT: database disk image is malformed (/var/lib/kubegate/kubegate.db)'));
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }) as Store;
    const lines: Array<[string, Record<string, unknown> | undefined]> = [];
    const log = {
      debug() {},
      info() {},
      warn() {},
      error: (msg: string, fields?: Record<string, unknown>) => lines.push([msg, fields]),
    };
    const res = await handleTokenRequest(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' }), { ...env.rt.issuerDeps, store: failing, log });
    expect(res.status).toBe(500);
    expect(bodyOf(res)).toEqual({ error: 'server_error', error_description: 'internal error (request id req-test)' });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(lines).toHaveLength(1);
    expect(lines[0]![1]).toMatchObject({ request_id: 'req-test' });
    expect(JSON.stringify(lines)).not.toContain(minted.refreshToken);
  });
});

/** A store whose chosen methods throw StoreUnavailableError (a locked, full, read-only or broken database). */
function unavailable(store: Store, methods: ReadonlyArray<keyof Store>, reason: StoreUnavailableError['reason'] = 'busy'): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if ((methods as readonly PropertyKey[]).includes(prop)) {
        return () => Promise.reject(new StoreUnavailableError(reason, `SQLITE_BUSY: database is locked (${String(prop)})`));
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('token endpoint: storage unavailable', () => {
  it.each([
    ['the read', ['findRefreshContext'], 'busy', '2'],
    ['the rotation', ['rotateRefreshToken'], 'busy', '2'],
    ['the rotation, disk full', ['rotateRefreshToken'], 'full', '30'],
    ['the rotation, read-only', ['rotateRefreshToken'], 'readonly', '30'],
  ] as const)('%s failing: 503 temporarily_unavailable with Retry-After, and the token stays usable', async (_, methods, reason, retryAfter) => {
    const minted = await env.mint('prod');
    env.clock.advance(50 * SECOND);
    const before = await storeSnapshot(env.store);
    const res = await handleTokenRequest(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' }), {
      ...env.rt.issuerDeps,
      store: unavailable(env.store, methods, reason),
    });
    expect(expectOAuthError(res, 503, 'temporarily_unavailable')).toBe(
      `the token service cannot reach its storage right now; nothing was changed, retry in ${retryAfter} seconds`,
    );
    expect(res.headers['retry-after']).toBe(retryAfter);
    expect(await storeSnapshot(env.store)).toBe(before);
    // Later (outside any grace window), the same token rotates normally: not a replay, not reuse.
    env.clock.advance(GRACE + SECOND);
    expectSuccess(await env.refresh(minted.refreshToken));
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ generation: 1, revoked_at: null });
    expect(await env.store.listAudit({ limit: 10, kind: 'token.reuse_detected' })).toEqual([]);
  });

  it('reuse detection that cannot be written answers 503 and is detected again on the retry', async () => {
    const minted = await env.mint('prod');
    expectSuccess(await env.refresh(minted.refreshToken));
    env.clock.advance(GRACE + 1);
    const res = await handleTokenRequest(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' }), {
      ...env.rt.issuerDeps,
      store: unavailable(env.store, ['revokeFamily']),
    });
    expectOAuthError(res, 503, 'temporarily_unavailable');
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoked_at: null });
    expect(expectOAuthError(await env.refresh(minted.refreshToken), 400, 'invalid_grant')).toMatch(/already used/);
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'refresh_token_reuse' });
  });

  it('does not count a 503 against the client address', async () => {
    const minted = await env.mint('prod');
    const deps = { ...env.rt.issuerDeps, store: unavailable(env.store, ['findRefreshContext']) };
    for (let i = 0; i < 200; i++) expect((await handleTokenRequest(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' }), deps)).status).toBe(503);
    expectSuccess(await env.refresh(minted.refreshToken));
  });
});

describe('token endpoint: a clock that steps back', () => {
  // Regression: a spent token presented after the grace window got the live
  // head once the clock had stepped back (now - used_at < 0 passed the check).
  it('a spent token presented after a backward step is reuse, not a replay', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(50 * SECOND);
    const head = expectSuccess(await env.refresh(minted.refreshToken)).refresh_token;
    env.clock.advance(-30 * SECOND); // NTP steps the clock back: the token was spent "30 s in the future"
    expect(expectOAuthError(await env.refresh(minted.refreshToken), 400, 'invalid_grant')).toMatch(/already used/);
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'refresh_token_reuse' });
    expectOAuthError(await env.refresh(head), 400, 'invalid_grant');
  });

  it('never issues an id_token whose auth_time is after its iat', async () => {
    const s = await env.signIn(); // auth_time = now
    const minted = await env.mint('prod', s);
    env.clock.advance(-5 * MINUTE);
    const claims = await verify(expectSuccess(await env.refresh(minted.refreshToken)).id_token);
    expect(claims.auth_time).toBeLessThanOrEqual(claims.iat!);
    expect(claims.iat).toBe(Math.floor(env.clock.now() / 1000));
  });

  // Regression: a session ending within the current second gave an id_token
  // with exp == iat, expired when it was signed; and the token was consumed.
  it('refuses, consuming nothing, when the session ends within the current second', async () => {
    const s = await env.signIn(ALICE, { lifetimeMs: 10 * MINUTE + 800 }); // ends at …:00.800
    const minted = await env.mint('prod', s);
    env.clock.set(s.session.expires_at - 500); // …:00.300: 0.5 s left, 0 whole seconds
    const before = await storeSnapshot(env.store);
    expect(expectOAuthError(await env.refresh(minted.refreshToken), 400, 'invalid_grant')).toMatch(/has expired/);
    expect(await storeSnapshot(env.store)).toBe(before);
  });

  it('mints nothing when the session ends within the current second', async () => {
    const s = await env.signIn(ALICE, { lifetimeMs: 10 * MINUTE + 800 });
    env.clock.set(s.session.expires_at - 500);
    const before = await storeSnapshot(env.store);
    await expect(env.mint('prod', s)).rejects.toMatchObject({ reason: 'session_inactive' });
    expect(await storeSnapshot(env.store)).toBe(before);
  });
});

describe('token endpoint: offboarding through the config', () => {
  const configWith = (users: string) => parseTestConfig(ENDPOINT_CONFIG_YAML.replace(/\nusers:\n[\s\S]*$/, users ? `\nusers:\n${users}` : '\n'));
  const alice = (groups: string) =>
    `  - username: alice\n    email: alice@example.com\n    name: Alice Admin\n    password_hash: "${LOCAL_PASSWORD_HASH}"\n    groups: ${groups}\n`;
  /** The runtime after the config changed (and Kubegate restarted): same store, new config. */
  const after = (config: ResolvedConfig) => (req: IssuerRequest) => handleTokenRequest(req, { ...env.rt.issuerDeps, config });

  // Regression: removing a local user from the config and restarting left
  // refreshes answering 200 with the old groups until the session ended.
  it('refuses a removed user, revokes that credential as offboarded, and audits it', async () => {
    const minted = await env.mint('prod');
    const other = await env.mint('staging', { user: minted.user, session: minted.session });
    const token = after(configWith(''));
    const description = expectOAuthError(await token(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' })), 400, 'invalid_grant');
    expect(description).toBe('your account has been removed from Kubegate; this credential has been revoked');
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'offboarded', revoked_at: env.clock.now() });
    expect(await env.store.listAudit({ limit: 10, kind: 'user.offboarded' })).toEqual([
      expect.objectContaining({ family_id: minted.family.id, user_id: minted.user.id, username: 'alice', cluster: 'prod', client_ip: '192.0.2.20' }),
    ]);
    // The next attempt says what happened, and writes nothing more on the request path.
    expect(expectOAuthError(await token(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' })), 400, 'invalid_grant')).toBe(
      'this credential has been revoked (your account was removed); get a new one at https://kubegate.example.com',
    );
    expect(await env.store.listAudit({ limit: 10, kind: 'user.offboarded' })).toHaveLength(1);
    // Each of their credentials goes at its own next refresh.
    expectOAuthError(await token(refreshRequest(other.refreshToken, { clientId: 'staging', secret: STAGING_SECRET })), 400, 'invalid_grant');
    expect(await env.store.getFamily(other.family.id)).toMatchObject({ revoke_reason: 'offboarded' });
  });

  it('drops a group removed from the config from the next id_token', async () => {
    const minted = await env.mint('prod');
    const first = expectSuccess(await env.refresh(minted.refreshToken));
    expect((await verify(first.id_token)).groups).toEqual(['ops', 'dev']);
    const res = await after(configWith(alice('[ops]')))(refreshRequest(first.refresh_token, { clientId: 'kubernetes' }));
    expect((await verify(expectSuccess(res).id_token)).groups).toEqual(['ops']);
  });

  it("checks the cluster's allowed_groups against the current groups: losing ops loses prod, not the credential", async () => {
    const minted = await env.mint('prod');
    const token = after(configWith(alice('[dev]')));
    expect(expectOAuthError(await token(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' })), 400, 'invalid_grant')).toBe(
      'your groups no longer give you access to this cluster',
    );
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoked_at: null, generation: 0 });
    // Given ops back, the same credential works again.
    expectSuccess(await after(configWith(alice('[ops, dev]')))(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' })));
  });

  it('refuses every user of an upstream removed from the config', async () => {
    const corp = await env.signIn({ upstream: 'corp', subject: 'dave-sub', username: 'dave', groups: ['ops'] });
    const minted = await env.mint('prod', corp);
    const withoutCorp = parseTestConfig(ENDPOINT_CONFIG_YAML.replace(/ {2}- id: corp\n {4}type: oidc\n {4}issuer: \S+\n {4}client_id: kubegate\n/, ''));
    expect(withoutCorp.upstreams.map((u) => u.id)).toEqual(['local']);
    expect(expectOAuthError(await after(withoutCorp)(refreshRequest(minted.refreshToken, { clientId: 'kubernetes' })), 400, 'invalid_grant')).toBe(
      'the sign-in provider of your account has been removed from Kubegate; this credential has been revoked',
    );
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'offboarded' });
  });
});

describe('token endpoint: rate limits', () => {
  // Regression: 2 824 requests with one revoked token wrote 2 824 audit rows,
  // each a synced write, and nothing slowed the client down.
  it('cuts off a loop hammering one revoked token, writing nothing on the way, then one audit row with the count', async () => {
    const minted = await env.mint('prod');
    await env.store.revokeFamily(minted.family.id, 'revoked_by_user', env.clock.now(), { kind: 'family.revoked' });
    const before = await storeSnapshot(env.store);
    const statuses = new Map<number, number>();
    let last!: IssuerResponse;
    for (let i = 0; i < 2824; i++) {
      last = await env.refresh(minted.refreshToken);
      statuses.set(last.status, (statuses.get(last.status) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 400: 30, 429: 2794 });
    expect(expectOAuthError(last, 429, 'slow_down')).toBe('too many token requests for this credential; retry in 2 seconds');
    expect(last.headers['retry-after']).toBe('2');
    expect(await storeSnapshot(env.store)).toBe(before); // the refusal path wrote nothing
    await flushDenials();
    expect(await env.store.listAudit({ limit: 100, kind: 'token.refresh_denied' })).toEqual([
      expect.objectContaining({
        family_id: minted.family.id,
        client_ip: '192.0.2.20',
        details: expect.objectContaining({ reason: 'family_revoked', count: 2824, reasons: { family_revoked: 30, rate_limited: 2794 } }),
      }),
    ]);
    // Another person's credential, from the same address, is unaffected.
    const other = await env.mint('prod');
    expectSuccess(await env.refresh(other.refreshToken));
  });

  it('50 people behind one NAT refreshing at kubectl cadence, one of them with racing tools, never see a 429', async () => {
    const people = await Promise.all(Array.from({ length: 50 }, () => env.mint('prod')));
    const tokens = people.map((p) => p.refreshToken);
    let seen429 = 0;
    // Ten id_token lifetimes. Person 0 runs 6 tools that all refresh at the same instant.
    for (let round = 0; round < 10; round++) {
      env.clock.advance(60 * SECOND);
      for (let i = 0; i < tokens.length; i++) {
        const tools = i === 0 ? 6 : 1;
        const answers = await Promise.all(Array.from({ length: tools }, () => env.refresh(tokens[i]!)));
        for (const a of answers) if (a.status === 429) seen429++;
        tokens[i] = expectSuccess(answers[0]!).refresh_token;
        for (const a of answers) expect(expectSuccess(a).refresh_token).toBe(tokens[i]);
      }
    }
    expect(seen429).toBe(0);
  });

  it('refuses an address after its failures that name no credential, before any work; other addresses are unaffected', async () => {
    const minted = await env.mint('prod');
    const from = (ip: string, token: string) => env.token({ ...refreshRequest(token, { clientId: 'kubernetes' }), clientIp: ip });
    for (let i = 0; i < 120; i++) expect((await from('203.0.113.66', `kgr_${String(i).padStart(43, 'A')}`)).status).toBe(400);
    const refused = await from('203.0.113.66', minted.refreshToken);
    expect(expectOAuthError(refused, 429, 'slow_down')).toBe('too many failed token requests from your address; retry in 1 second');
    expect(refused.headers['retry-after']).toBe('1');
    expect((await env.store.findRefreshContext((await import('./refresh-tokens')).hashRefreshToken(minted.refreshToken)))!.token.used_at).toBeNull();
    expectSuccess(await from('192.0.2.20', minted.refreshToken));
    await flushDenials();
    expect(await env.store.listAudit({ limit: 10, kind: 'token.refresh_denied' })).toEqual([
      expect.objectContaining({ family_id: null, client_ip: '203.0.113.66', details: expect.objectContaining({ reason: 'rate_limited', count: 1 }) }),
    ]);
  });
});
