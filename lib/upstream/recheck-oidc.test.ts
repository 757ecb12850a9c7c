/**
 * Identity kept fresh with a REAL OpenID Provider (node-oidc-provider,
 * e2e/support/upstream-idp.ts, rotating refresh tokens) behind the real OIDC
 * connector, through sign-in (the upstream refresh token stored sealed), the
 * runtime's re-check engine and the token endpoint kubectl calls.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startUpstreamIdp, type UpstreamIdp } from '../../e2e/support/upstream-idp';
import { bodyOf, ENDPOINT_CONFIG_YAML, MINUTE, openTestEnv, TestClock, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { SignInThrottle } from '../auth/rate-limit';
import { silentLogger } from '../util/log';
import { completeOidcSignIn } from './oidc/identity';
import { OidcUpstreamSchema } from './oidc/schema';
import { openLoginSession } from './sign-in';

const redirectUri = 'http://127.0.0.1:3700/api/auth/callback/corp';
let idp: UpstreamIdp;
let env: TestEnv;

beforeAll(async () => {
  idp = await startUpstreamIdp({
    refreshTokens: true,
    rotateRefreshTokens: true,
    clients: [{ client_id: 'kubegate', client_secret: 'kubegate-secret', redirect_uris: [redirectUri] }],
    users: [{ username: 'alice', password: 'pw-alice', email: 'alice@example.com', name: 'Alice', groups: ['dev', 'ops'] }],
  });
});
afterAll(async () => {
  await idp?.close();
});
afterEach(async () => {
  idp.setDown(false);
  await env?.close();
});

/** The authorization code flow through the IdP's login form, as the browser and next-auth run it. */
async function upstreamTokens(username: string, password: string) {
  const cookies = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(url, idp.url), {
      ...init,
      headers: { ...(init.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      redirect: 'manual',
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };
  const verifier = randomBytes(32).toString('base64url');
  const auth = new URL('/auth', idp.url);
  auth.search = new URLSearchParams({
    client_id: 'kubegate',
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email groups',
    state: 's',
    nonce: 'n',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const interaction = (await go(auth.href)).headers.get('location')!;
  await go(interaction);
  let res = await go(`${interaction}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
  });
  let location = res.headers.get('location');
  for (let i = 0; i < 5 && location && !location.startsWith(redirectUri); i++) {
    res = await go(location);
    location = res.headers.get('location');
  }
  const code = new URL(location!).searchParams.get('code')!;
  const tokenRes = await fetch(`${idp.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('kubegate:kubegate-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
  });
  expect(tokenRes.status).toBe(200);
  return (await tokenRes.json()) as { id_token: string; access_token: string; refresh_token: string };
}

it('a group changed upstream reaches the next id_token after the interval, with the rotated upstream refresh token kept each time; deleted upstream ends it', async () => {
  const corp = `  - id: corp\n    type: oidc\n    issuer: ${idp.issuer}\n    client_id: kubegate\n    client_secret: kubegate-secret\n    allow_insecure_http: true\n`;
  const yaml = ENDPOINT_CONFIG_YAML.replace(/ {2}- id: corp\n {4}type: oidc\n {4}issuer: \S+\n {4}client_id: kubegate\n/, corp);
  // Our clock follows the real one (the provider checks its tokens against it) and is moved forward by the test.
  env = await openTestEnv({ yaml, clock: new TestClock(Date.now()) });
  const config = OidcUpstreamSchema.parse(env.config.upstreams.find((u) => u.id === 'corp'));

  const tokens = await upstreamTokens('alice', 'pw-alice');
  const signIn = await completeOidcSignIn(config, { account: { ...tokens }, profile: decodeJwt(tokens.id_token) }, env.clock.now());
  const deps = {
    store: env.store,
    now: env.clock.now,
    log: silentLogger,
    sessionLifetimeMs: 8 * 60 * MINUTE,
    throttle: new SignInThrottle(env.clock.now),
    sealRecheckState: env.rt.rechecker.sealState,
  };
  const sessionId = await openLoginSession(deps, config, signIn, { clientIp: null, userAgent: null });
  const found = (await env.store.getLoginSession(sessionId))!;
  // The upstream refresh token is stored, but never in clear.
  const stored = (await env.store.getRecheckState(found.user.id))!;
  expect(stored).toBeTruthy();
  expect(stored).not.toContain(tokens.refresh_token);

  const minted = await env.mint('prod', found);
  expect(decodeJwt(minted.idToken).groups).toEqual(['dev', 'ops']);

  const refresh = async (token: string) => {
    const res = await env.refresh(token);
    const body = bodyOf<TokenSuccess & { error_description?: string }>(res);
    return { status: res.status, token: body.refresh_token, groups: body.id_token ? decodeJwt(body.id_token).groups : undefined, body };
  };

  idp.updateUser('alice', { groups: ['ops'] });
  env.clock.advance(5 * MINUTE);
  const first = await refresh(minted.refreshToken);
  expect(first).toMatchObject({ status: 200, groups: ['ops'] });

  // Works again only if the refresh token the provider rotated to was kept: presenting the spent one
  // would be reuse, and the provider would revoke the grant.
  idp.updateUser('alice', { groups: ['ops', 'sre'] });
  env.clock.advance(5 * MINUTE);
  const second = await refresh(first.token);
  expect(second).toMatchObject({ status: 200, groups: ['ops', 'sre'] });

  // Briefly down: within the grace the last known groups stay.
  idp.setDown(true);
  env.clock.advance(5 * MINUTE);
  const down = await refresh(second.token);
  expect(down).toMatchObject({ status: 200, groups: ['ops', 'sre'] });
  idp.setDown(false);

  idp.removeUser('alice');
  env.clock.advance(MINUTE);
  const gone = await refresh(down.token);
  expect(gone.status).toBe(400);
  expect(gone.body.error_description).toMatch(/disabled or deleted at your sign-in provider/);
  expect((await env.store.getLoginSession(sessionId))!.session.revoke_reason).toBe('offboarded');
  const results = (await env.store.listAudit({ limit: 20, userId: found.user.id })).filter((e) => e.kind.startsWith('user.')).map((e) => e.details.result ?? e.kind);
  // Newest first; the revocation and its verdict share one instant.
  expect(results.slice(2)).toEqual(['unavailable', 'active', 'active']);
  expect(results.slice(0, 2).sort()).toEqual(['gone', 'user.offboarded']);
});
