/**
 * The OIDC connector's mapping and re-check against a REAL OpenID Provider
 * (node-oidc-provider, e2e/support/upstream-idp.ts) with Keycloak-like
 * nested roles, namespaced claims, userinfo-only groups, an Entra-like group
 * overage with a Microsoft Graph stand-in, and rotating refresh tokens.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startUpstreamIdp, type UpstreamIdp } from '../../../e2e/support/upstream-idp';
import { UpstreamRefusal } from '../types';
import { completeOidcSignIn, mapOidcIdentity } from './identity';
import { recheckOidc } from './recheck';
import { OidcUpstreamSchema, type OidcUpstreamConfig } from './schema';
import { clearDiscoveryCache } from './upstream';

const redirectUri = 'http://127.0.0.1:3700/api/auth/callback/corp';
const manyGroups = Array.from({ length: 250 }, (_, i) => `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`);

let idp: UpstreamIdp;
const now = () => Date.now();

beforeAll(async () => {
  idp = await startUpstreamIdp({
    refreshTokens: true,
    rotateRefreshTokens: true,
    graph: { pageSize: 100 },
    clients: [{ client_id: 'kubegate', client_secret: 'kubegate-secret', redirect_uris: [redirectUri] }],
    users: [
      {
        username: 'alice',
        password: 'pw-alice',
        email: 'alice@example.com',
        name: 'Alice',
        groups: ['dev', 'ops'],
        claims: {
          hd: 'example.com',
          realm_access: { roles: ['offline_access', 'k8s-admins'] },
          resource_access: { kubernetes: { roles: ['view', 'edit'] }, 'my.client': { roles: ['dotted'] } },
          'https://example.com/groups': ['ns-a', 'ns-b'],
        },
      },
      { username: 'bob', password: 'pw-bob', email: 'bob@example.com', name: 'Bob', groups: ['ui-only'], userinfoOnly: ['groups'], claims: { hd: 'example.com' } },
      { username: 'mallory', password: 'pw-mallory', email: 'mallory@evil.example', name: 'Mallory', groups: ['dev'], email_verified: false, claims: { hd: 'evil.example' } },
      { username: 'erin', password: 'pw-erin', email: 'erin@example.com', name: 'Erin', groups: manyGroups, overage: true },
      { username: 'dave', password: 'pw-dave', email: 'dave@example.com', name: 'Dave', groups: ['d'], userinfoOnly: ['hd'], claims: { hd: 'example.com' } },
      { username: 'carol', password: 'pw-carol', email: 'carol@example.com', name: 'Carol', groups: [], claims: { groups_bad: [1, 2] } },
    ],
  });
});
afterAll(async () => {
  await idp?.close();
});
beforeEach(() => {
  clearDiscoveryCache();
});
afterEach(() => {
  idp.setDown(false);
});

function config(extra: Record<string, unknown> = {}): OidcUpstreamConfig {
  return OidcUpstreamSchema.parse({
    id: 'corp',
    type: 'oidc',
    issuer: idp.issuer,
    client_id: 'kubegate',
    client_secret: 'kubegate-secret',
    allow_insecure_http: true,
    http_timeout: 2,
    ...extra,
  });
}

class CookieJar {
  private cookies = new Map<string, string>();
  store(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

interface Tokens {
  id_token: string;
  access_token: string;
  refresh_token?: string;
  claims: Record<string, unknown>;
}

/** The authorization code flow through the IdP's own login form, as a browser and next-auth would run it. */
async function signIn(username: string, password: string): Promise<Tokens> {
  const jar = new CookieJar();
  const go = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(new URL(url, idp.url), { ...init, headers: { ...(init.headers as Record<string, string>), cookie: jar.header() }, redirect: 'manual' });
    jar.store(res);
    return res;
  };
  const verifier = randomBytes(32).toString('base64url');
  const nonce = randomBytes(8).toString('base64url');
  const auth = new URL('/auth', idp.url);
  auth.search = new URLSearchParams({
    client_id: 'kubegate',
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email groups',
    state: 's',
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  let res = await go(auth.href);
  const interaction = res.headers.get('location')!;
  await go(interaction);
  res = await go(`${interaction}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
  });
  let location = res.headers.get('location');
  for (let i = 0; i < 5 && location && !location.startsWith(redirectUri); i++) {
    res = await go(location);
    location = res.headers.get('location');
  }
  if (!location) throw new Error(`sign-in as ${username} stopped at ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const code = new URL(location).searchParams.get('code')!;
  const tokenRes = await fetch(`${idp.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('kubegate:kubegate-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
  });
  expect(tokenRes.status).toBe(200);
  const tokens = (await tokenRes.json()) as Omit<Tokens, 'claims'>;
  const { payload } = await jwtVerify(tokens.id_token, createRemoteJWKSet(new URL(`${idp.url}/jwks`)), { issuer: idp.issuer, audience: 'kubegate' });
  return { ...tokens, claims: payload as Record<string, unknown> };
}

const callback = (t: Tokens) => ({ account: { access_token: t.access_token, refresh_token: t.refresh_token, id_token: t.id_token }, profile: t.claims });

async function refusal(p: Promise<unknown>): Promise<UpstreamRefusal> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamRefusal);
  return err as UpstreamRefusal;
}

describe('groups by claim path', () => {
  let alice: Tokens;
  beforeAll(async () => {
    alice = await signIn('alice', 'pw-alice');
  });

  it.each([
    ['groups', ['dev', 'ops']],
    ['realm_access.roles', ['offline_access', 'k8s-admins']],
    ['resource_access.kubernetes.roles', ['view', 'edit']],
    ['resource_access.my.client.roles', ['dotted']],
    ['https://example.com/groups', ['ns-a', 'ns-b']],
  ])('%s', async (groups_claim, groups) => {
    const signIn = await completeOidcSignIn(config({ groups_claim }), callback(alice), now());
    expect(signIn.identity).toEqual({ upstream: 'corp', subject: 'alice', username: 'alice', email: 'alice@example.com', name: 'Alice', groups });
    expect(signIn.recheckState).toBe(alice.refresh_token);
  });

  it('applies the allow-list, then the prefixes', async () => {
    const { identity } = await completeOidcSignIn(
      config({ groups_claim: 'realm_access.roles', group_allowlist: ['k8s-*'], groups_prefix: 'kc:', username_prefix: 'kc:' }),
      callback(alice),
      now(),
    );
    expect(identity.username).toBe('kc:alice');
    expect(identity.groups).toEqual(['kc:k8s-admins']);
  });

  it('refuses a groups claim of the wrong shape, by name', async () => {
    const carol = await signIn('carol', 'pw-carol');
    const r = await refusal(completeOidcSignIn(config({ groups_claim: 'groups_bad' }), callback(carol), now()));
    expect(r.code).toBe('claims');
    expect(r.detail).toBe('the "groups_bad" claim must be a string or a list of strings (item 1 is a number)');
  });

  it('reads the username from a namespaced or nested claim and refuses a missing one', async () => {
    const r = await refusal(completeOidcSignIn(config({ username_claim: 'upn' }), callback(alice), now()));
    expect(r).toMatchObject({ code: 'claims', detail: 'the upstream sent no "upn" claim to use as the username' });
    const { identity } = await completeOidcSignIn(config({ username_claim: 'email' }), callback(alice), now());
    expect(identity.username).toBe('alice@example.com');
  });
});

describe('required claims', () => {
  it('lets through who meets every rule', async () => {
    const alice = await signIn('alice', 'pw-alice');
    const { identity } = await completeOidcSignIn(config({ required_claims: { email_verified: true, hd: ['example.com', 'example.org'], 'realm_access.roles': 'k8s-admins' } }), callback(alice), now());
    expect(identity.username).toBe('alice');
  });

  it('refuses as not_allowed, naming the claim and not its value', async () => {
    const mallory = await signIn('mallory', 'pw-mallory');
    let r = await refusal(completeOidcSignIn(config({ required_claims: { hd: 'example.com' } }), callback(mallory), now()));
    expect(r).toMatchObject({ code: 'not_allowed', detail: 'required claim "hd" does not have an accepted value' });
    expect(r.detail).not.toContain('evil');
    r = await refusal(completeOidcSignIn(config({ required_claims: { email_verified: true } }), callback(mallory), now()));
    expect(r).toMatchObject({ code: 'not_allowed', detail: 'required claim "email_verified" does not have an accepted value' });
  });
});

describe('required claims only in userinfo', () => {
  it('auto: userinfo is asked for a required claim the id_token lacks; id_token: refused', async () => {
    const dave = await signIn('dave', 'pw-dave');
    expect(dave.claims.hd).toBeUndefined();
    const rules = { required_claims: { hd: 'example.com' } };
    expect((await completeOidcSignIn(config(rules), callback(dave), now())).identity.groups).toEqual(['d']);
    const r = await refusal(completeOidcSignIn(config({ ...rules, groups_source: 'id_token' }), callback(dave), now()));
    expect(r).toMatchObject({ code: 'not_allowed', detail: 'required claim "hd" is missing' });
  });
});

describe('groups from userinfo', () => {
  let bob: Tokens;
  beforeAll(async () => {
    bob = await signIn('bob', 'pw-bob');
  });

  it('the id_token really lacks them', () => {
    expect(bob.claims.groups).toBeUndefined();
  });

  it('auto: fetched from userinfo with the access token', async () => {
    const before = idp.requests.filter((r) => r.path === '/me').length;
    const { identity } = await completeOidcSignIn(config(), callback(bob), now());
    expect(identity.groups).toEqual(['ui-only']);
    expect(idp.requests.filter((r) => r.path === '/me').length).toBe(before + 1);
  });

  it('userinfo: always fetched; id_token: never (no groups)', async () => {
    expect((await completeOidcSignIn(config({ groups_source: 'userinfo' }), callback(bob), now())).identity.groups).toEqual(['ui-only']);
    const before = idp.requests.filter((r) => r.path === '/me').length;
    expect((await completeOidcSignIn(config({ groups_source: 'id_token' }), callback(bob), now())).identity.groups).toEqual([]);
    expect(idp.requests.filter((r) => r.path === '/me').length).toBe(before);
  });

  it('auto: not fetched when the id_token has the claim', async () => {
    const alice = await signIn('alice', 'pw-alice');
    const before = idp.requests.filter((r) => r.path === '/me').length;
    await completeOidcSignIn(config(), callback(alice), now());
    expect(idp.requests.filter((r) => r.path === '/me').length).toBe(before);
  });

  it("refuses userinfo about someone else (another person's access token)", async () => {
    const alice = await signIn('alice', 'pw-alice');
    const r = await refusal(mapOidcIdentity(config({ groups_source: 'userinfo' }), { claims: bob.claims, accessToken: alice.access_token }, now()));
    expect(r).toMatchObject({ code: 'invalid_response', detail: 'userinfo: the answer is about another subject than the id_token' });
  });

  it('refuses a revoked access token without leaking it', async () => {
    const r = await refusal(mapOidcIdentity(config({ groups_source: 'userinfo' }), { claims: bob.claims, accessToken: 'not-a-token' }, now()));
    expect(r.code).toBe('invalid_response');
    expect(r.detail).not.toContain('not-a-token');
  });

  it('an upstream that is down is unavailable, not "no groups"', async () => {
    idp.setDown(true);
    const r = await refusal(completeOidcSignIn(config(), callback(bob), now()));
    expect(r.code).toBe('unavailable');
  });
});

describe('Entra ID group overage', () => {
  let erin: Tokens;
  beforeAll(async () => {
    erin = await signIn('erin', 'pw-erin');
  });

  it('the id_token carries the distributed-claim marker, not the groups', () => {
    expect(erin.claims.groups).toBeUndefined();
    expect(erin.claims._claim_names).toEqual({ groups: 'src1' });
  });

  it('without entra_overage: refused with what to do, never "no groups"', async () => {
    const r = await refusal(completeOidcSignIn(config(), callback(erin), now()));
    expect(r.code).toBe('claims');
    expect(r.detail).toMatch(/^too many groups for the token: .*enable entra_overage .*or configure a group filter/);
  });

  it('with entra_overage: every group, across Graph pages', async () => {
    const before = idp.requests.filter((r) => r.path.startsWith('/graph/')).length;
    const { identity } = await completeOidcSignIn(config({ entra_overage: { graph_url: idp.graphUrl } }), callback(erin), now());
    expect(identity.groups).toEqual(manyGroups);
    expect(idp.requests.filter((r) => r.path.startsWith('/graph/')).length - before).toBe(3);
  });

  it('by display name when asked, through the allow-list and prefix', async () => {
    const { identity } = await completeOidcSignIn(
      config({ entra_overage: { graph_url: idp.graphUrl, group_name: 'display_name' }, group_allowlist: ['Group 00000000-0000-0000-0000-00000000000*'], groups_prefix: 'aad:' }),
      callback(erin),
      now(),
    );
    expect(identity.groups).toEqual(manyGroups.slice(0, 10).map((g) => `aad:Group ${g}`));
  });

  it('Graph refusing the access token is a clear refusal', async () => {
    const r = await refusal(mapOidcIdentity(config({ entra_overage: { graph_url: idp.graphUrl } }), { claims: erin.claims, accessToken: 'forged' }, now()));
    expect(r.code).toBe('claims');
    expect(r.detail).toMatch(/^Microsoft Graph refused the group lookup \(401\)/);
  });
});

describe('re-check with the upstream refresh token', () => {
  it('maps the refreshed id_token again; a rotated token is kept, a group change shows', async () => {
    const alice = await signIn('alice', 'pw-alice');
    expect(alice.refresh_token).toBeTruthy();
    const cfg = config({ groups_claim: 'realm_access.roles', required_claims: { email_verified: true } });
    const first = await recheckOidc(cfg, { subject: 'alice' }, alice.refresh_token!, { now });
    expect(first).toMatchObject({ status: 'active', identity: { subject: 'alice', username: 'alice', groups: ['offline_access', 'k8s-admins'] } });
    const rotated = (first as { recheckState: string }).recheckState;
    expect(rotated).toBeTruthy();
    expect(rotated).not.toBe(alice.refresh_token);

    idp.updateUser('alice', { claims: { ...alice.claims, realm_access: { roles: ['k8s-viewers'] } } });
    const second = await recheckOidc(cfg, { subject: 'alice' }, rotated, { now });
    expect(second).toMatchObject({ status: 'active', identity: { groups: ['k8s-viewers'] } });

    // The rotated-away token is spent (oidc-provider then revokes the grant: reuse detection).
    const replay = await recheckOidc(cfg, { subject: 'alice' }, alice.refresh_token!, { now });
    expect(replay).toMatchObject({ status: 'gone' });
    expect((replay as { reason: string }).reason).toMatch(/invalid_grant/);
  });

  it('a required claim that no longer holds is gone', async () => {
    idp.updateUser('mallory', { email_verified: true });
    const mallory = await signIn('mallory', 'pw-mallory');
    const cfg = config({ required_claims: { email_verified: true } });
    const first = await recheckOidc(cfg, { subject: 'mallory' }, mallory.refresh_token!, { now });
    expect(first.status).toBe('active');
    idp.updateUser('mallory', { email_verified: false });
    const r = await recheckOidc(cfg, { subject: 'mallory' }, (first as { recheckState: string }).recheckState, { now });
    expect(r).toEqual({ status: 'gone', reason: 'required claim "email_verified" does not have an accepted value' });
  });

  it('groups only in userinfo are fetched again with the new access token', async () => {
    const bob = await signIn('bob', 'pw-bob');
    idp.updateUser('bob', { groups: ['ui-only', 'ui-new'] });
    const r = await recheckOidc(config(), { subject: 'bob' }, bob.refresh_token!, { now });
    expect(r).toMatchObject({ status: 'active', identity: { groups: ['ui-only', 'ui-new'] } });
  });

  it('overage groups are read from Graph again', async () => {
    const erin = await signIn('erin', 'pw-erin');
    const r = await recheckOidc(config({ entra_overage: { graph_url: idp.graphUrl } }), { subject: 'erin' }, erin.refresh_token!, { now });
    expect(r).toMatchObject({ status: 'active', identity: { groups: manyGroups } });
  });

  it('a user deleted upstream is gone (invalid_grant)', async () => {
    const carol = await signIn('carol', 'pw-carol');
    idp.removeUser('carol');
    const r = await recheckOidc(config(), { subject: 'carol' }, carol.refresh_token!, { now });
    expect(r.status).toBe('gone');
  });

  it('a refresh token for someone else is gone', async () => {
    const bob = await signIn('bob', 'pw-bob');
    const r = await recheckOidc(config(), { subject: 'alice' }, bob.refresh_token!, { now });
    expect(r).toEqual({ status: 'gone', reason: 'the refreshed id_token names another subject' });
  });

  it('an upstream that is down is unavailable, and the token still works afterwards', async () => {
    const alice = await signIn('alice', 'pw-alice');
    idp.setDown(true);
    expect(await recheckOidc(config(), { subject: 'alice' }, alice.refresh_token!, { now })).toMatchObject({ status: 'unavailable' });
    idp.setDown(false);
    clearDiscoveryCache();
    expect(await recheckOidc(config(), { subject: 'alice' }, alice.refresh_token!, { now })).toMatchObject({ status: 'active' });
  });

  it('our client being refused (a rotated secret) is unavailable, not everyone signed out', async () => {
    const alice = await signIn('alice', 'pw-alice');
    const r = await recheckOidc(config({ client_secret: 'wrong' }), { subject: 'alice' }, alice.refresh_token!, { now });
    expect(r).toMatchObject({ status: 'unavailable' });
    expect((r as { reason: string }).reason).toMatch(/invalid_client/);
  });

  it('no refresh token: not supported (the absolute lifetime applies)', async () => {
    expect(await recheckOidc(config(), { subject: 'alice' }, null, { now })).toEqual({ status: 'not_supported' });
  });

  it('an upstream that accepts and never answers is unavailable within http_timeout', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const issuer = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const started = Date.now();
      const r = await recheckOidc(config({ issuer, http_timeout: 1 }), { subject: 'alice' }, 'rt', { now });
      expect(r).toEqual({ status: 'unavailable', reason: 'discovery: the upstream timed out' });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
