/**
 * The device authorization grant (RFC 8628) as `kubectl oidc-login
 * --grant-type=device-code` runs it, replayed with oauth4webapi against the
 * built server, the person approving on the portal's /device page (its
 * server-action form posted the way a browser without JavaScript posts it).
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clientsFromConfig } from '../../lib/oidc/client-auth';
import { startDeviceAuthorization } from '../../lib/oidc/device';
import { LOCAL_PASSWORD } from '../support/fixtures';
import { TestBrowser } from './support/browser';
import { openSeeder, type Seeder } from './support/seed';

const { issuer, configPath } = inject('kubegate');
const insecure = { [oauth.allowInsecureRequests]: true };
const kubectl: oauth.Client = { client_id: 'kubernetes' };
let as: oauth.AuthorizationServer;
let seeder: Seeder;

beforeAll(async () => {
  as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), insecure));
  seeder = await openSeeder(configPath);
});
afterAll(async () => {
  await seeder?.close();
});

async function start(): Promise<oauth.DeviceAuthorizationResponse> {
  // kubelogin POSTs client_id and scope.
  const r = await oauth.deviceAuthorizationRequest(as, kubectl, oauth.None(), { scope: 'openid' }, insecure);
  return oauth.processDeviceAuthorizationResponse(as, kubectl, r);
}

/** One poll; the OAuth error code, or the tokens. */
async function poll(deviceCode: string): Promise<string | oauth.TokenEndpointResponse> {
  const r = await oauth.deviceCodeGrantRequest(as, kubectl, oauth.None(), deviceCode, insecure);
  try {
    return await oauth.processDeviceCodeResponse(as, kubectl, r, { requireIdToken: true } as oauth.ProcessTokenResponseOptions);
  } catch (err) {
    if (err instanceof oauth.ResponseBodyError) return err.error;
    throw err;
  }
}

/** Submits the page's form whose button reads `button`, as a browser without JavaScript does (multipart, Origin). */
async function submit(browser: TestBrowser, pageUrl: string, html: string, button: string): Promise<string> {
  const forms = html.match(/<form[\s\S]*?<\/form>/g) ?? [];
  const form = forms.find((f) => new RegExp(`>${button}</button>`).test(f));
  if (!form) throw new Error(`no form with a ${button} button in ${html.slice(0, 500)}`);
  const data = new FormData();
  for (const m of form.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? '';
    if (name) data.append(name.replace(/&amp;/g, '&'), value.replace(/&amp;/g, '&'));
  }
  const res = await fetch(pageUrl, { method: 'POST', body: data, redirect: 'manual', headers: { cookie: browser.cookieHeader(), origin: issuer } });
  await res.arrayBuffer();
  const location = res.headers.get('location') ?? res.headers.get('x-action-redirect');
  expect(location, `status ${res.status}`).toBeTruthy();
  return new URL(location!.split(';')[0]!, issuer).href;
}

describe('device flow, as kubelogin runs it', () => {
  it('device_authorization answers what kubelogin reads; polling too fast is slow_down; approval on /device gives tokens with an id_token', async () => {
    const started = await start();
    expect(started.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(started.verification_uri).toBe(`${issuer}/device`);
    expect(started.verification_uri_complete).toBe(`${issuer}/device?user_code=${started.user_code}`);
    expect(started.expires_in).toBe(600);
    expect(started.interval).toBe(5);

    expect(await poll(started.device_code)).toBe('authorization_pending');
    // Immediately again: too fast (RFC 8628 §3.5), and the interval is now 10 s.
    expect(await poll(started.device_code)).toBe('slow_down');

    // The person opens verification_uri_complete: signed out, to sign-in and back with the code.
    const browser = new TestBrowser(issuer);
    const signedOut = await browser.request(started.verification_uri_complete!);
    expect(signedOut.status).toBe(307);
    const login = new URL(signedOut.location!);
    expect(login.pathname).toBe('/login');
    expect(login.searchParams.get('next')).toBe(`/device?user_code=${started.user_code}`);
    await browser.signIn('alice', LOCAL_PASSWORD);
    const page = await browser.request(started.verification_uri_complete!);
    expect(page.status).toBe(200);
    // Which client asks for which cluster, before anything is approved.
    const text = page.body.replace(/<!-- -->/g, '');
    expect(text).toMatch(/data-testid="device-cluster">Production <span[^>]*>\(prod\)</);
    expect(text).toMatch(/data-testid="device-client"[^>]*>kubernetes</);

    const after = await submit(browser, started.verification_uri_complete!, page.body, 'Approve');
    expect(after).toBe(`${issuer}/device?result=approved`);

    await new Promise((r) => setTimeout(r, 10_500));
    const tokens = await poll(started.device_code);
    expect(typeof tokens, String(tokens)).toBe('object');
    const t = tokens as oauth.TokenEndpointResponse;
    expect(t.id_token).toBeTruthy();
    expect(t.refresh_token).toMatch(/^kgr_/);
    expect(oauth.getValidatedIdTokenClaims(t)).toMatchObject({ iss: issuer, aud: 'kubernetes', preferred_username: 'alice' });
    // The refresh that follows carries an id_token too.
    const r = await oauth.refreshTokenGrantRequest(as, kubectl, oauth.None(), t.refresh_token!, insecure);
    expect((await oauth.processRefreshTokenResponse(as, kubectl, r)).id_token).toBeTruthy();
    // The device code is spent.
    await new Promise((res) => setTimeout(res, 10_500));
    expect(await poll(started.device_code)).toBe('invalid_grant');
  });

  it('denied on /device: access_denied', async () => {
    const started = await start();
    const browser = new TestBrowser(issuer);
    await browser.signIn('alice', LOCAL_PASSWORD);
    const url = `${issuer}/device?user_code=${started.user_code.toLowerCase().replace('-', '')}`;
    const page = await browser.request(url);
    expect(page.status).toBe(200);
    expect(await submit(browser, url, page.body, 'Deny')).toBe(`${issuer}/device?result=denied`);
    expect(await poll(started.device_code)).toBe('access_denied');
  });

  it('an unknown code on /device says so, and approves nothing', async () => {
    const browser = new TestBrowser(issuer);
    await browser.signIn('alice', LOCAL_PASSWORD);
    const page = await browser.request(`${issuer}/device?user_code=BCDF-GHJK`);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/unknown, was already used, or has expired/);
    expect(page.body).not.toContain('>Approve</button>');
  });

  it('a device code polled after it expired: expired_token', async () => {
    const client = clientsFromConfig(seeder.config).get('kubernetes')!;
    // Made eleven minutes ago (expires_in is ten), on the server's own database.
    const old = await startDeviceAuthorization({ store: seeder.store, now: () => Date.now() - 11 * 60_000 }, client, 'openid');
    expect(await poll(old.deviceCode)).toBe('expired_token');
  });
});
