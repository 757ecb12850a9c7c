/**
 * kubelogin's browser flow end to end: a loopback listener on 127.0.0.1
 * (redirect_uri http://localhost:<port>, as kubelogin sends it), the
 * authorize request built by oauth4webapi (PKCE S256, state, nonce,
 * access_type=offline), chromium signing in through the upstream IdP and
 * landing on the listener, then the code exchange over https. Also
 * prompt=login: a signed-in person is asked to sign in again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oauth from 'oauth4webapi';
import { expect, test } from './fixtures';
import { UpstreamLoginPage } from './pages/upstream-login';
import { fetchWithCa } from './support/fetch-with-ca';
import { USERS } from './support/topology';

const kubectl: oauth.Client = { client_id: 'kubernetes' };

test.describe('authorization code + PKCE with chromium (kubelogin get-token)', () => {
  let listener: http.Server;
  let port: number;
  let callbacks: URL[];
  let as: oauth.AuthorizationServer;
  let opts: { [oauth.customFetch]: ReturnType<typeof fetchWithCa> };

  test.beforeEach(async ({ topo }) => {
    callbacks = [];
    listener = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://localhost:${port}`);
      // The browser also asks for /favicon.ico; kubelogin's callback is the root.
      if (url.pathname === '/') callbacks.push(url);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p id="done">Authenticated. You can close this window.</p>');
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as AddressInfo).port;
    opts = { [oauth.customFetch]: fetchWithCa(topo.pki.caPem) };
    as = await oauth.processDiscoveryResponse(new URL(topo.portal), await oauth.discoveryRequest(new URL(topo.portal), opts));
  });
  test.afterEach(async () => {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });

  async function start(extra: Record<string, string> = {}) {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: 'kubernetes',
      redirect_uri: `http://localhost:${port}`,
      response_type: 'code',
      scope: 'openid',
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      access_type: 'offline',
      ...extra,
    }).toString();
    return { url, verifier, state, nonce };
  }

  async function redeem(s: Awaited<ReturnType<typeof start>>, callback: URL): Promise<oauth.TokenEndpointResponse> {
    const params = oauth.validateAuthResponse(as, kubectl, callback, s.state);
    const r = await oauth.authorizationCodeGrantRequest(as, kubectl, oauth.None(), params, `http://localhost:${port}`, s.verifier, opts);
    return oauth.processAuthorizationCodeResponse(as, kubectl, r, { expectedNonce: s.nonce, requireIdToken: true });
  }

  test('signed out: sign in through the upstream, land on the loopback listener, exchange the code', async ({ page, topo }) => {
    const s = await start();
    await page.goto(s.url.href);
    await expect(page).toHaveURL(/\/login\?next=%2Fauthorize%2Fcontinue/);
    await page.getByRole('button', { name: 'Sign in with Corp SSO' }).click();
    const upstream = new UpstreamLoginPage(page);
    await upstream.expectShown();
    await upstream.signIn(USERS.alice.username, USERS.alice.password);
    await expect(page.locator('#done')).toHaveText(/Authenticated/);
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]!.searchParams.get('iss')).toBe(topo.portal);
    const tokens = await redeem(s, callbacks[0]!);
    const jwks = (await (await opts[oauth.customFetch](as.jwks_uri!, {})).json()) as JSONWebKeySet;
    const { payload } = await jwtVerify(tokens.id_token!, createLocalJWKSet(jwks), { issuer: topo.portal, audience: 'kubernetes' });
    expect(payload).toMatchObject({ nonce: s.nonce, preferred_username: 'alice' });
    expect(tokens.refresh_token).toMatch(/^kgr_/);
  });

  test('signed in: no page at all; prompt=login asks for a sign-in again, then a code', async ({ page, signIn }) => {
    await signIn('alice');
    const quiet = await start();
    await page.goto(quiet.url.href);
    await expect(page.locator('#done')).toBeVisible();
    expect(callbacks).toHaveLength(1);
    await redeem(quiet, callbacks[0]!);

    const again = await start({ prompt: 'login' });
    await page.goto(again.url.href);
    // The sign-in page, although signed in.
    await expect(page).toHaveURL(/\/login\?next=.*prompt=login/);
    await page.getByRole('button', { name: 'Sign in with Corp SSO' }).click();
    const upstream = new UpstreamLoginPage(page);
    if (page.url().includes('/interaction/')) await upstream.signIn(USERS.alice.username, USERS.alice.password);
    await expect(page.locator('#done')).toBeVisible();
    expect(callbacks).toHaveLength(2);
    const tokens = await redeem(again, callbacks[1]!);
    expect(tokens.id_token).toBeTruthy();
  });

  test('an unknown redirect host gets the error page in the browser, never a redirect', async ({ page, topo }) => {
    const s = await start({ redirect_uri: 'http://evil.example.com:8000' });
    const res = await page.goto(s.url.href);
    expect(res!.status()).toBe(400);
    expect(page.url().startsWith(`${topo.portal}/oidc/authorize`)).toBe(true);
    await expect(page.getByRole('heading')).toHaveText('This sign-in request cannot be completed');
  });
});
