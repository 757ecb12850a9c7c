/**
 * The authorization-code flow as kubelogin (`kubectl oidc-login`) runs it,
 * replayed by a strict OIDC client (oauth4webapi) against the built server:
 * discovery, a loopback listener on 127.0.0.1 with redirect_uri
 * http://localhost:<port>, PKCE S256, state, nonce, access_type=offline,
 * scope=openid only, the code exchange, and refreshes that carry an
 * id_token every time. Then the hostile cases.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_PASSWORD } from '../support/fixtures';
import { TestBrowser } from './support/browser';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { readFamilyRow, readTokenRow } from './support/seed';

const DASH_SECRET = 'dash-secret-0123456789';
const DASH_REDIRECT = 'https://dash.example.com/callback';
let server: KubegateServer;
let issuer: string;
let as: oauth.AuthorizationServer;
const insecure = { [oauth.allowInsecureRequests]: true };
const kubectl: oauth.Client = { client_id: 'kubernetes' };

/** kubelogin's local listener: binds 127.0.0.1, hands back the first callback's URL. */
class LoopbackListener {
  private server = http.createServer();
  private waiting: ((url: URL) => void) | undefined;
  readonly received: URL[] = [];
  port = 0;

  async start(): Promise<void> {
    this.server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', `http://localhost:${this.port}`);
      this.received.push(url);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>Authenticated. You can close this window.</p>');
      this.waiting?.(url);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get redirectUri(): string {
    return `http://localhost:${this.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let listener: LoopbackListener;

beforeAll(async () => {
  server = new KubegateServer(
    await prepareKubegate(
      {
        idTokenLifetime: 60,
        clients: [{ client_id: 'dashboard', cluster: 'prod', client_secret: DASH_SECRET, redirect_uris: [DASH_REDIRECT] }],
      },
      'kubegate-authz-',
    ),
  );
  await server.start();
  issuer = server.url;
  listener = new LoopbackListener();
  await listener.start();
  // kubelogin's first step: discovery, whose issuer must equal --oidc-issuer-url byte for byte.
  as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), insecure));
});
afterAll(async () => {
  await listener?.close();
  await server?.stop();
});

interface Started {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

async function authorizeUrl(o: { redirectUri?: string; extra?: Record<string, string>; clientId?: string } = {}): Promise<Started> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: o.clientId ?? 'kubernetes',
    redirect_uri: o.redirectUri ?? listener.redirectUri,
    response_type: 'code',
    scope: 'openid',
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    // kubelogin always sends it; it asks for nothing here.
    access_type: 'offline',
    ...o.extra,
  }).toString();
  return { url, verifier, state, nonce };
}

/** The browser's leg: authorize, sign in when asked, come back; returns the callback the client's redirect URI received. */
async function browserLeg(browser: TestBrowser, url: URL): Promise<URL> {
  let hops = await browser.follow(url.href);
  let last = hops.at(-1)!;
  if (last.status === 200 && last.url.startsWith(`${issuer}/login`)) {
    const next = new URL(last.url).searchParams.get('next')!;
    expect(next).toMatch(/^\/authorize\/continue\?request=/);
    await browser.signIn('alice', LOCAL_PASSWORD);
    hops = await browser.follow(`${issuer}${next}`);
    last = hops.at(-1)!;
  }
  expect(last.status, `${last.url} → ${last.body.slice(0, 300)}`).toBe(303);
  return new URL(last.location!);
}

/** The whole kubelogin run: returns the token response, validated by oauth4webapi. */
async function kubeloginLogin(browser: TestBrowser): Promise<{ tokens: oauth.TokenEndpointResponse; started: Started }> {
  const started = await authorizeUrl();
  const callback = await browserLeg(browser, started.url);
  // The browser lands on the loopback listener with a GET and a query string.
  const res = await fetch(callback);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  const got = listener.received.at(-1)!;
  expect(got.searchParams.get('state')).toBe(started.state);
  const params = oauth.validateAuthResponse(as, kubectl, got, started.state);
  const response = await oauth.authorizationCodeGrantRequest(as, kubectl, oauth.None(), params, listener.redirectUri, started.verifier, insecure);
  const tokens = await oauth.processAuthorizationCodeResponse(as, kubectl, response, { expectedNonce: started.nonce, requireIdToken: true });
  return { tokens, started };
}

describe('kubelogin replayed with oauth4webapi', () => {
  it('discovery lists what kubelogin uses', () => {
    expect(as).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/oidc/authorize`,
      token_endpoint: `${issuer}/oidc/token`,
      device_authorization_endpoint: `${issuer}/oidc/device_authorization`,
      jwks_uri: `${issuer}/oidc/jwks`,
      code_challenge_methods_supported: ['S256'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code'],
      authorization_response_iss_parameter_supported: true,
    });
  });

  it('code + PKCE through a sign-in, then refreshes with an id_token every time (no offline_access asked)', async () => {
    const browser = new TestBrowser(issuer);
    const { tokens } = await kubeloginLogin(browser);
    expect(tokens.id_token).toBeTruthy();
    expect(tokens.refresh_token).toMatch(/^kgr_/);
    const claims = oauth.getValidatedIdTokenClaims(tokens)!;
    expect(claims).toMatchObject({ iss: issuer, aud: 'kubernetes', preferred_username: 'alice' });
    // kubelogin checks exp with zero leeway: it must be in the future now.
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000 + 30);

    let refresh = tokens.refresh_token!;
    for (let i = 0; i < 3; i++) {
      const r = await oauth.refreshTokenGrantRequest(as, kubectl, oauth.None(), refresh, insecure);
      const next = await oauth.processRefreshTokenResponse(as, kubectl, r, { requireIdToken: true } as oauth.ProcessTokenResponseOptions);
      expect(next.id_token, 'kubelogin fails with "id_token is missing" without it').toBeTruthy();
      expect(next.refresh_token).not.toBe(refresh);
      refresh = next.refresh_token!;
    }

    // Signed in already: a second kubelogin run needs no sign-in (no /login hop).
    const again = await authorizeUrl();
    const hops = await browser.follow(again.url.href);
    expect(hops.map((h) => new URL(h.url).pathname)).toEqual(['/oidc/authorize', '/authorize/continue']);
    expect(hops.at(-1)!.location).toMatch(new RegExp(`^http://localhost:${listener.port}/\\?code=`));
  });

  it('prompt=none without a session: login_required back at the listener, with iss', async () => {
    const started = await authorizeUrl({ extra: { prompt: 'none' } });
    const callback = await browserLeg(new TestBrowser(issuer), started.url);
    expect(callback.searchParams.get('error')).toBe('login_required');
    expect(() => oauth.validateAuthResponse(as, kubectl, callback, started.state)).toThrow();
    expect(callback.searchParams.get('iss')).toBe(issuer);
  });

  it('redirect_uri on 127.0.0.1 and [::1], any port, is accepted for the cluster client', async () => {
    const browser = new TestBrowser(issuer);
    await browser.signIn('alice', LOCAL_PASSWORD);
    for (const uri of [`http://127.0.0.1:${listener.port}`, 'http://[::1]:18000/callback']) {
      const started = await authorizeUrl({ redirectUri: uri });
      const callback = await browserLeg(browser, started.url);
      expect(callback.href.startsWith(new URL(uri).href)).toBe(true);
      expect(callback.searchParams.get('code')).toMatch(/^kgc_/);
    }
  });

  it('the out-of-band URI (authcode-keyboard): a page shows the code, which redeems', async () => {
    const browser = new TestBrowser(issuer);
    await browser.signIn('alice', LOCAL_PASSWORD);
    const started = await authorizeUrl({ redirectUri: 'urn:ietf:wg:oauth:2.0:oob' });
    const hops = await browser.follow(started.url.href);
    const page = hops.at(-1)!;
    expect(page.status).toBe(200);
    const code = /id="authorization-code">(kgc_[A-Za-z0-9_-]{43})</.exec(page.body)?.[1];
    expect(code).toBeDefined();
    const r = await fetch(`${issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: 'urn:ietf:wg:oauth:2.0:oob', code_verifier: started.verifier, client_id: 'kubernetes' }),
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { id_token?: string }).id_token).toBeTruthy();
  });
});

describe('hostile authorization requests', () => {
  let browser: TestBrowser;
  beforeAll(async () => {
    browser = new TestBrowser(issuer);
    await browser.signIn('alice', LOCAL_PASSWORD);
  });

  async function codeAndStart(): Promise<{ code: string; started: Started; params: URLSearchParams }> {
    const started = await authorizeUrl();
    const callback = await browserLeg(browser, started.url);
    const params = oauth.validateAuthResponse(as, kubectl, callback, started.state);
    return { code: params.get('code')!, started, params };
  }

  async function exchange(params: URLSearchParams, verifier: string, redirectUri = listener.redirectUri): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await oauth.authorizationCodeGrantRequest(as, kubectl, oauth.None(), params, redirectUri, verifier, insecure);
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  it('code replay: refused, and the credential the first redemption produced is revoked', async () => {
    const { params, started } = await codeAndStart();
    const first = await exchange(params, started.verifier);
    expect(first.status).toBe(200);
    const familyId = readTokenRow(server.files.dbPath, first.body.refresh_token as string)!.family_id;
    expect(readFamilyRow(server.files.dbPath, familyId)).toMatchObject({ revoked_at: null });
    const second = await exchange(params, started.verifier);
    expect(second).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(second.body.error_description).toMatch(/already used.*revoked/);
    expect(readFamilyRow(server.files.dbPath, familyId)).toMatchObject({ revoke_reason: 'authorization_code_reuse' });
    const refresh = await oauth.refreshTokenGrantRequest(as, kubectl, oauth.None(), first.body.refresh_token as string, insecure);
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as { error_description: string }).error_description).toMatch(/authorization code it came from was presented again/);
  });

  it('a wrong verifier is refused; the right one still works', async () => {
    const { params, started } = await codeAndStart();
    expect(await exchange(params, oauth.generateRandomCodeVerifier())).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await exchange(params, started.verifier)).status).toBe(200);
  });

  it('a redirect_uri at the token endpoint other than the authorized one is refused', async () => {
    const { params, started } = await codeAndStart();
    expect(await exchange(params, started.verifier, `http://localhost:${listener.port}/`)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  async function firstHop(url: URL): Promise<{ status: number; location?: string; body: string }> {
    return browser.request(url.href);
  }

  it('a plain challenge: sent back with invalid_request', async () => {
    const started = await authorizeUrl({ extra: { code_challenge_method: 'plain', code_challenge: 'x'.repeat(43) } });
    const hop = await firstHop(started.url);
    expect(hop.status).toBe(302);
    const back = new URL(hop.location!);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('state')).toBe(started.state);
  });

  it('no challenge from a public client: sent back with invalid_request', async () => {
    const started = await authorizeUrl();
    started.url.searchParams.delete('code_challenge');
    started.url.searchParams.delete('code_challenge_method');
    const back = new URL((await firstHop(started.url)).location!);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/public client/);
  });

  it('response_type=token: sent back with unsupported_response_type, never a token', async () => {
    const started = await authorizeUrl({ extra: { response_type: 'token' } });
    const hop = await firstHop(started.url);
    const back = new URL(hop.location!);
    expect(back.searchParams.get('error')).toBe('unsupported_response_type');
    expect(hop.location).not.toMatch(/access_token|#/);
  });

  it.each([
    ['a trailing slash', `${DASH_REDIRECT}/`],
    ['another host', 'https://evil.example.com/callback'],
    ['good@evil', 'https://dash.example.com@evil.example.com/callback'],
    ['encoded dots', 'https://dash.example.com/%2e%2e/callback'],
    ['another port', 'https://dash.example.com:8443/callback'],
    ['a loopback URI (not a native client)', `http://localhost:${listener?.port ?? 8000}`],
  ])('a registered (non-native) client with %s: an error page, no redirect', async (_, uri) => {
    const started = await authorizeUrl({ clientId: 'dashboard', redirectUri: uri });
    const hop = await firstHop(started.url);
    expect(hop.status).toBe(400);
    expect(hop.location).toBeUndefined();
    expect(hop.body).toMatch(/not one registered/);
  });

  it('the registered URI of the extra client works; its token is for the cluster audience and refreshes with its secret', async () => {
    const dashboard: oauth.Client = { client_id: 'dashboard' };
    const started = await authorizeUrl({ clientId: 'dashboard', redirectUri: DASH_REDIRECT });
    const callback = await browserLeg(browser, started.url);
    expect(callback.origin + callback.pathname).toBe(DASH_REDIRECT);
    const params = oauth.validateAuthResponse(as, dashboard, callback, started.state);
    const r = await oauth.authorizationCodeGrantRequest(as, dashboard, oauth.ClientSecretBasic(DASH_SECRET), params, DASH_REDIRECT, started.verifier, insecure);
    const body = (await r.json()) as { id_token: string; refresh_token: string };
    expect(r.status).toBe(200);
    const claims = JSON.parse(Buffer.from(body.id_token.split('.')[1]!, 'base64url').toString()) as { aud: string; nonce: string };
    // kube-apiserver checks aud against the cluster's client_id.
    expect(claims).toMatchObject({ aud: 'kubernetes', nonce: started.nonce });
    const refreshed = await oauth.refreshTokenGrantRequest(as, dashboard, oauth.ClientSecretBasic(DASH_SECRET), body.refresh_token, insecure);
    expect(refreshed.status).toBe(200);
    // The cluster's own client cannot refresh the dashboard's credential.
    const stolen = await oauth.refreshTokenGrantRequest(as, kubectl, oauth.None(), ((await refreshed.json()) as { refresh_token: string }).refresh_token, insecure);
    expect(stolen.status).toBe(400);
  });

  it.each([
    ['an unknown client', { client_id: 'intruder' }],
    ['another host for the cluster client', { redirect_uri: 'http://evil.example.com:8000' }],
    ['userinfo on loopback', { redirect_uri: 'http://localhost:8000@evil.example.com' }],
  ])('%s: an error page, never a redirect', async (_, change) => {
    const started = await authorizeUrl();
    for (const [k, v] of Object.entries(change)) started.url.searchParams.set(k, v);
    const hop = await firstHop(started.url);
    expect(hop.status).toBe(400);
    expect(hop.location).toBeUndefined();
    expect(hop.body).toMatch(/cannot be completed/);
  });
});

