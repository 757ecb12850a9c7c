/**
 * The device authorization grant end to end: a headless "jump host" (this
 * test, speaking RFC 8628 through oauth4webapi exactly as `kubectl
 * oidc-login --grant-type=device-code` does) asks for a code over https;
 * the person opens verification_uri_complete in chromium, signs in through
 * the upstream IdP, sees which client asks for which cluster, and approves
 * (or denies). The device's next poll gets an id_token that verifies
 * against the issuer's JWKS and refreshes with an id_token again.
 */
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oauth from 'oauth4webapi';
import { expect, test } from './fixtures';
import { UpstreamLoginPage } from './pages/upstream-login';
import { fetchWithCa } from './support/fetch-with-ca';
import { USERS } from './support/topology';

/** fetch for oauth4webapi over node:https with the test PKI's CA (global fetch cannot take a CA). */
const kubectl: oauth.Client = { client_id: 'kubernetes' };

test.describe('device flow with chromium approving', () => {
  let as: oauth.AuthorizationServer;
  let opts: { [oauth.customFetch]: ReturnType<typeof fetchWithCa> };

  test.beforeEach(async ({ topo }) => {
    opts = { [oauth.customFetch]: fetchWithCa(topo.pki.caPem) };
    as = await oauth.processDiscoveryResponse(new URL(topo.portal), await oauth.discoveryRequest(new URL(topo.portal), opts));
  });

  async function poll(deviceCode: string): Promise<string | oauth.TokenEndpointResponse> {
    const r = await oauth.deviceCodeGrantRequest(as, kubectl, oauth.None(), deviceCode, opts);
    try {
      return await oauth.processDeviceCodeResponse(as, kubectl, r);
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError) return err.error;
      throw err;
    }
  }

  test('approve: sign in from the link, see client and cluster, approve; the device gets tokens for that cluster', async ({ page, topo, consoleErrors }) => {
    const started = await oauth.processDeviceAuthorizationResponse(
      as,
      kubectl,
      await oauth.deviceAuthorizationRequest(as, kubectl, oauth.None(), { scope: 'openid' }, opts),
    );
    expect(started.verification_uri).toBe(`${topo.portal}/device`);
    expect(await poll(started.device_code)).toBe('authorization_pending');

    // Signed out: to sign-in, and back to the code after the upstream.
    await page.goto(started.verification_uri_complete!);
    await expect(page).toHaveURL(/\/login\?next=/);
    await page.getByRole('button', { name: 'Sign in with Corp SSO' }).click();
    const upstream = new UpstreamLoginPage(page);
    await upstream.expectShown();
    await upstream.signIn(USERS.alice.username, USERS.alice.password);
    await expect(page).toHaveURL(`${topo.portal}/device?user_code=${started.user_code}`);

    const request = page.getByTestId('device-request');
    await expect(request.getByTestId('device-user-code')).toHaveText(started.user_code);
    await expect(request.getByTestId('device-cluster')).toHaveText('Production (prod)');
    await expect(request.getByTestId('device-client')).toHaveText('kubernetes');
    await request.getByRole('button', { name: 'Approve' }).click();
    await expect(page.getByTestId('device-result')).toContainText('Approved');

    await new Promise((r) => setTimeout(r, (started.interval ?? 5) * 1000 + 200));
    const tokens = await poll(started.device_code);
    expect(typeof tokens, String(tokens)).toBe('object');
    const t = tokens as oauth.TokenEndpointResponse;
    const claims = oauth.getValidatedIdTokenClaims(t)!;
    expect(claims).toMatchObject({ iss: topo.portal, aud: 'kubernetes', preferred_username: 'alice' });
    // Signed by a key the issuer publishes (what the API server checks).
    const jwks = (await (await opts[oauth.customFetch](as.jwks_uri!, {})).json()) as JSONWebKeySet;
    await jwtVerify(t.id_token!, createLocalJWKSet(jwks), { issuer: topo.portal, audience: 'kubernetes' });
    const refreshed = await oauth.processRefreshTokenResponse(as, kubectl, await oauth.refreshTokenGrantRequest(as, kubectl, oauth.None(), t.refresh_token!, opts));
    expect(refreshed.id_token).toBeTruthy();

    // The credential shows on the Sessions page, handed out on the command line.
    await page.goto(`${topo.portal}/sessions`);
    // This browser's sign-in (the one that approved) holds exactly that credential.
    await expect(page.locator('[data-testid=session-row][data-current=true] [data-testid=credential-origin]')).toHaveText(['command line']);
    expect(consoleErrors).toEqual([]);
  });

  test('deny: the device is told access_denied; a code typed by hand in lower case without the dash is found', async ({ page, topo, signIn }) => {
    await signIn('alice');
    const started = await oauth.processDeviceAuthorizationResponse(
      as,
      kubectl,
      await oauth.deviceAuthorizationRequest(as, kubectl, oauth.None(), { scope: 'openid' }, opts),
    );
    await page.goto(`${topo.portal}/device`);
    await page.getByLabel('Code').fill(started.user_code.replace('-', '').toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByTestId('device-user-code')).toHaveText(started.user_code);
    await page.getByRole('button', { name: 'Deny' }).click();
    await expect(page.getByTestId('device-result')).toContainText('Denied');
    expect(await poll(started.device_code)).toBe('access_denied');
  });

  test('bob, whose groups do not open prod, cannot approve', async ({ page, signIn }) => {
    await signIn('bob');
    const started = await oauth.processDeviceAuthorizationResponse(
      as,
      kubectl,
      await oauth.deviceAuthorizationRequest(as, kubectl, oauth.None(), { scope: 'openid' }, opts),
    );
    await page.goto(started.verification_uri_complete!);
    await expect(page.getByTestId('device-cluster')).toHaveText('Production (prod)');
    await expect(page.getByRole('button', { name: 'Approve' })).toHaveCount(0);
    await expect(page.getByTestId('device-result')).toContainText('do not give you access');
    expect(await poll(started.device_code)).toBe('authorization_pending');
  });
});
