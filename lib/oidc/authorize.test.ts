import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MINUTE, openTestEnv, SECOND, type TestEnv } from '../../test/support/fixtures';
import { continueAuthorization, handleAuthorizeRequest, hashCode, NS_CODE, type CodeRecord } from './authorize';
import type { IssuerResponse } from './http';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const ISSUER = 'https://kubegate.example.com';
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
/** What kubelogin sends (its access_type=offline included). */
const KUBELOGIN = {
  client_id: 'kubernetes',
  redirect_uri: 'http://localhost:8000',
  response_type: 'code',
  scope: 'openid',
  state: 'st-1',
  nonce: 'n-1',
  code_challenge: CHALLENGE,
  code_challenge_method: 'S256',
  access_type: 'offline',
};

function authorize(params: Record<string, string> | string): Promise<IssuerResponse> {
  const q = typeof params === 'string' ? params : new URLSearchParams(params).toString();
  return handleAuthorizeRequest({ method: 'GET', url: `/oidc/authorize?${q}`, headers: {}, body: '' }, env.rt.issuerDeps);
}

function requestIdOf(res: IssuerResponse): string {
  expect(res.status, res.body).toBe(302);
  const loc = new URL(res.headers.location!);
  expect(loc.origin + loc.pathname).toBe(`${ISSUER}/authorize/continue`);
  return loc.searchParams.get('request')!;
}

function expectErrorPage(res: IssuerResponse, text: RegExp): void {
  expect(res.status).toBe(400);
  expect(res.headers.location).toBeUndefined();
  expect(res.headers['content-type']).toMatch(/^text\/html/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  expect(res.body).toMatch(text);
}

function expectErrorRedirect(res: IssuerResponse, error: string, redirectUri = 'http://localhost:8000/'): URLSearchParams {
  expect(res.status, res.body).toBe(302);
  const loc = new URL(res.headers.location!);
  expect(loc.origin + loc.pathname).toBe(redirectUri);
  expect(loc.searchParams.get('error')).toBe(error);
  expect(loc.searchParams.get('iss')).toBe(ISSUER);
  return loc.searchParams;
}

describe('GET /oidc/authorize: client and redirect URI are checked before anything is redirected', () => {
  it.each([
    ['no client_id', { ...KUBELOGIN, client_id: '' }, /no client/],
    ['an unknown client', { ...KUBELOGIN, client_id: 'intruder' }, /does not know/],
    ['no redirect_uri', { ...KUBELOGIN, redirect_uri: '' }, /no redirect_uri/],
    ['a non-loopback redirect_uri', { ...KUBELOGIN, redirect_uri: 'https://evil.example.com/cb' }, /not allowed/],
    ['good@evil', { ...KUBELOGIN, redirect_uri: 'http://localhost@evil.example.com' }, /not allowed/],
    ['a look-alike loopback host', { ...KUBELOGIN, redirect_uri: 'http://localhost.evil.example.com:8000' }, /not allowed/],
  ])('%s: an error page, never a redirect', async (_, params, text) => {
    expectErrorPage(await authorize(params as Record<string, string>), text);
  });

  it('a repeated redirect_uri: an error page', async () => {
    expectErrorPage(await authorize(new URLSearchParams({ ...KUBELOGIN }).toString() + '&redirect_uri=http%3A%2F%2Fevil.example.com'), /once/);
  });
});

describe('GET /oidc/authorize: other errors go back to the client with error=, state and iss (RFC 6749 §4.1.2.1, RFC 9207)', () => {
  it.each([
    ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
    ['response_type=code id_token', { response_type: 'code id_token' }, 'unsupported_response_type'],
    ['no openid scope', { scope: 'profile' }, 'invalid_scope'],
    ['a plain challenge', { code_challenge_method: 'plain', code_challenge: VERIFIER }, 'invalid_request'],
    ['a challenge without a method (plain by default)', { code_challenge_method: '' }, 'invalid_request'],
    ['a malformed S256 challenge', { code_challenge: 'short' }, 'invalid_request'],
    ['prompt=none login', { prompt: 'none login' }, 'invalid_request'],
    ['a negative max_age', { max_age: '-1' }, 'invalid_request'],
    ['a request object', { request: 'eyJ.x.y' }, 'request_not_supported'],
    ['response_mode=fragment', { response_mode: 'fragment' }, 'invalid_request'],
  ])('%s → %s', async (_, change, error) => {
    const params: Record<string, string> = { ...KUBELOGIN, ...change };
    if (params.code_challenge_method === '') delete params.code_challenge_method;
    const q = expectErrorRedirect(await authorize(params), error);
    expect(q.get('state')).toBe('st-1');
  });

  it('a public client without a challenge → invalid_request (PKCE is required)', async () => {
    const { code_challenge: _c, code_challenge_method: _m, ...rest } = KUBELOGIN;
    const q = expectErrorRedirect(await authorize(rest), 'invalid_request');
    expect(q.get('error_description')).toMatch(/code_challenge is required for a public client/);
  });

  it('a confidential client may leave PKCE out', async () => {
    const { code_challenge: _c, code_challenge_method: _m, ...rest } = KUBELOGIN;
    requestIdOf(await authorize({ ...rest, client_id: 'staging' }));
  });
});

describe('POST /oidc/authorize (OIDC Core §3.1.2.1)', () => {
  it('takes the parameters from a form body', async () => {
    const res = await handleAuthorizeRequest(
      { method: 'POST', url: '/oidc/authorize', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(KUBELOGIN).toString() },
      env.rt.issuerDeps,
    );
    requestIdOf(res);
  });

  it.each([
    ['a JSON body', { method: 'POST', headers: { 'content-type': 'application/json' } }],
    ['PUT', { method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
  ])('refuses %s with 405 and an error page', async (_, r) => {
    const res = await handleAuthorizeRequest({ ...r, url: '/oidc/authorize', body: new URLSearchParams(KUBELOGIN).toString() }, env.rt.issuerDeps);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST');
    expect(res.headers.location).toBeUndefined();
  });
});

describe('/authorize/continue', () => {
  it('a session that has not shown a second factor the policy asks for is sent through step-up, and no code is made', async () => {
    const id = requestIdOf(await authorize(KUBELOGIN));
    env.clock.advance(SECOND);
    const browser = await env.signIn(undefined, { amr: ['pwd'] });
    const deps = { ...env.rt.authzDeps, mfaPolicy: { everyone: true, groups: [] } };
    const out = await continueAuthorization(deps, id, browser);
    expect(out).toEqual({ kind: 'login', location: `${ISSUER}/mfa?next=${encodeURIComponent(`/authorize/continue?request=${id}`)}` });
    // The request waits for the way back; with the second factor shown, the code comes.
    const stepped = { ...browser, session: { ...browser.session, amr: ['pwd', 'otp', 'mfa'] } };
    expect((await continueAuthorization(deps, id, stepped)).kind).toBe('redirect');
  });

  it('without a session: to sign-in, with the way back; then a code bound to the request', async () => {
    const id = requestIdOf(await authorize(KUBELOGIN));
    const first = await continueAuthorization(env.rt.authzDeps, id, undefined);
    expect(first).toEqual({ kind: 'login', location: `/login?next=${encodeURIComponent(`/authorize/continue?request=${id}`)}` });
    env.clock.advance(20 * SECOND);
    const browser = await env.signIn();
    const done = await continueAuthorization(env.rt.authzDeps, id, browser);
    expect(done.kind).toBe('redirect');
    const loc = new URL((done as { location: string }).location);
    expect(loc.origin).toBe('http://localhost:8000');
    expect(loc.searchParams.get('state')).toBe('st-1');
    expect(loc.searchParams.get('iss')).toBe(ISSUER);
    const code = loc.searchParams.get('code')!;
    expect(code).toMatch(/^kgc_[A-Za-z0-9_-]{43}$/);
    const record = JSON.parse((await env.store.getEphemeral(NS_CODE, hashCode(code), env.clock.now()))!) as CodeRecord;
    expect(record).toMatchObject({
      status: 'issued',
      client_id: 'kubernetes',
      redirect_uri: 'http://localhost:8000',
      code_challenge: CHALLENGE,
      nonce: 'n-1',
      session_id: browser.session.id,
      expires_at: env.clock.now() + MINUTE,
    });
    // The request is used up: one request, one code.
    expect(await continueAuthorization(env.rt.authzDeps, id, browser)).toMatchObject({ kind: 'error' });
  });

  it('prompt=none without a session: login_required back to the client', async () => {
    const id = requestIdOf(await authorize({ ...KUBELOGIN, prompt: 'none' }));
    const out = await continueAuthorization(env.rt.authzDeps, id, undefined);
    expect(out.kind).toBe('redirect');
    expect(new URL((out as { location: string }).location).searchParams.get('error')).toBe('login_required');
  });

  it('prompt=login with a session from before the request: sign in again (not a loop: gives up after two rounds)', async () => {
    const old = await env.signIn();
    env.clock.advance(SECOND);
    const id = requestIdOf(await authorize({ ...KUBELOGIN, prompt: 'login' }));
    const out = await continueAuthorization(env.rt.authzDeps, id, old);
    expect(out).toMatchObject({ kind: 'login' });
    expect((out as { location: string }).location).toContain('prompt=login');
    expect(await continueAuthorization(env.rt.authzDeps, id, old)).toMatchObject({ kind: 'login' });
    const third = await continueAuthorization(env.rt.authzDeps, id, old);
    expect(new URL((third as { location: string }).location).searchParams.get('error')).toBe('login_required');
  });

  it('prompt=login with a sign-in made after the request: a code', async () => {
    const id = requestIdOf(await authorize({ ...KUBELOGIN, prompt: 'login' }));
    env.clock.advance(SECOND);
    const fresh = await env.signIn();
    expect(await continueAuthorization(env.rt.authzDeps, id, fresh)).toMatchObject({ kind: 'redirect' });
  });

  it('max_age: a sign-in older than it means signing in again', async () => {
    const old = await env.signIn();
    env.clock.advance(10 * MINUTE);
    const id = requestIdOf(await authorize({ ...KUBELOGIN, max_age: '300' }));
    expect(await continueAuthorization(env.rt.authzDeps, id, old)).toMatchObject({ kind: 'login' });
    const id2 = requestIdOf(await authorize({ ...KUBELOGIN, max_age: '3600' }));
    expect(await continueAuthorization(env.rt.authzDeps, id2, old)).toMatchObject({ kind: 'redirect' });
  });

  it('a person whose groups do not open the cluster: access_denied, and no code', async () => {
    const id = requestIdOf(await authorize(KUBELOGIN));
    const bob = await env.signIn({ upstream: 'corp', subject: 'bob', username: 'bob', groups: ['interns'] });
    const out = await continueAuthorization(env.rt.authzDeps, id, bob);
    const q = new URL((out as { location: string }).location).searchParams;
    expect(q.get('error')).toBe('access_denied');
    expect(q.get('code')).toBeNull();
  });

  it('the out-of-band URI (kubelogin authcode-keyboard): the code is shown, not redirected', async () => {
    const id = requestIdOf(await authorize({ ...KUBELOGIN, redirect_uri: 'urn:ietf:wg:oauth:2.0:oob' }));
    const out = await continueAuthorization(env.rt.authzDeps, id, await env.signIn());
    expect(out).toMatchObject({ kind: 'show_code', cluster: 'prod', clientId: 'kubernetes' });
  });

  it.each([null, '', 'nope', 'x'.repeat(43)])('an unknown request id (%s): an error page', async (id) => {
    expect(await continueAuthorization(env.rt.authzDeps, id, await env.signIn())).toMatchObject({ kind: 'error', status: 400 });
  });

  it('a request expires after ten minutes', async () => {
    const id = requestIdOf(await authorize(KUBELOGIN));
    env.clock.advance(10 * MINUTE + SECOND);
    expect(await continueAuthorization(env.rt.authzDeps, id, await env.signIn())).toMatchObject({ kind: 'error' });
  });
});
