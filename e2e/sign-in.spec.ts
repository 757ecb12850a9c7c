import { KubegateLoginPage } from './pages/portal';
import { UpstreamLoginPage } from './pages/upstream-login';
import { expect, signInThroughUpstream, test } from './fixtures';
import { LOCAL_ADMIN, USERS } from './support/topology';

test.describe('sign-in through the upstream identity provider', () => {
  test('behind a TLS-terminating proxy: wrong password refused upstream, right one lands on the portal', async ({ page, topo, home, consoleErrors }) => {
    const login = new KubegateLoginPage(page, topo.portal);
    await login.open();
    await login.chooseUpstream('Corp SSO');
    const upstream = new UpstreamLoginPage(page);
    await upstream.expectShown();
    await upstream.signIn('alice', 'not her password');
    await expect(page.getByText(/invalid username or password/i)).toBeVisible();
    await upstream.signIn(USERS.alice.username, USERS.alice.password);
    await expect(page).toHaveURL(`${topo.portal}/`);
    await expect(home.username()).toHaveText('alice');
    await expect(home.groups()).toContainText('developers');
    await expect(home.groups()).toContainText('platform');
    await expect(home.clusterCard('prod')).toBeVisible();
    await expect(home.clusterCard('stage')).toBeVisible();
    await expect(home.clusterCard('vault')).toHaveCount(0);

    // PKCE, state and nonce went to the upstream, with the redirect_uri derived from the issuer URL.
    const auth = topo.idp.authorizationRequests.at(-1)!;
    expect(auth.code_challenge_method).toBe('S256');
    expect(auth.state).toBeTruthy();
    expect(auth.nonce).toBeTruthy();
    expect(auth.redirect_uri).toBe(`${topo.portal}/api/auth/callback/corp`);
    expect(consoleErrors).toEqual([]);
  });

  test('directly over http at its own issuer URL', async ({ page, topo }) => {
    await signInThroughUpstream(page, topo.direct.url, 'alice');
    await expect(page.getByTestId('username')).toHaveText('alice');
    expect(topo.idp.authorizationRequests.at(-1)!.redirect_uri).toBe(`${topo.direct.url}/api/auth/callback/corp`);
  });

  test('an upstream that is down gives a clear page, not a stack trace', async ({ page, topo }) => {
    const login = new KubegateLoginPage(page, topo.direct.url);
    await login.open();
    topo.idp.setDown(true);
    try {
      await login.chooseUpstream('Corp SSO');
      await expect(login.alert()).toContainText('could not be reached or is misconfigured');
      await expect(page.locator('body')).not.toContainText(/at .*\.js:\d+|Error:/);
    } finally {
      topo.idp.setDown(false);
    }
  });
});

test.describe('local accounts', () => {
  test('wrong password is refused, right one signs in', async ({ page, topo }) => {
    const login = new KubegateLoginPage(page, topo.portal);
    await login.open();
    await login.signInLocal(LOCAL_ADMIN.username, 'wrong');
    await expect(login.alert()).toHaveText('Wrong username or password.');
    await login.signInLocal(LOCAL_ADMIN.username, LOCAL_ADMIN.password);
    await expect(page).toHaveURL(`${topo.portal}/`);
    await expect(page.getByTestId('username')).toHaveText(LOCAL_ADMIN.username);
    await expect(page.getByTestId('cluster-card-vault')).toBeVisible();
  });

  test('repeated failures are rate limited, even with the right password', async ({ page, topo }) => {
    const login = new KubegateLoginPage(page, topo.direct.url);
    for (let i = 0; i < 5; i++) {
      await login.open();
      await login.signInLocal(LOCAL_ADMIN.username, `guess-${i}`);
      await expect(login.alert()).toHaveText('Wrong username or password.');
    }
    await login.open();
    await login.signInLocal(LOCAL_ADMIN.username, LOCAL_ADMIN.password);
    await expect(login.alert()).toContainText('Too many failed attempts');
  });
});

test.describe('browser security', () => {
  test('session cookie is HttpOnly, Secure and SameSite; pages carry a strict CSP and HSTS', async ({ page, topo, signIn, context }) => {
    await signIn('alice');
    const cookies = await context.cookies(topo.portal);
    const session = cookies.find((c) => c.name.includes('authjs.session-token'));
    expect(session, JSON.stringify(cookies.map((c) => c.name))).toBeDefined();
    expect(session!.httpOnly).toBe(true);
    expect(session!.secure).toBe(true);
    expect(session!.sameSite).toBe('Lax');
    // The cookie holds an encrypted pointer to the server-side session, not the identity.
    expect(session!.value).not.toContain('alice');

    const res = await page.request.get(`${topo.portal}/`);
    const csp = res.headers()['content-security-policy']!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers()['strict-transport-security']).toContain('max-age=');
    expect(res.headers()['x-frame-options']).toBe('DENY');
  });

  test('signed-out visitors are sent to the sign-in page', async ({ page, topo }) => {
    await page.goto(`${topo.portal}/clusters/prod`);
    await expect(page).toHaveURL(`${topo.portal}/login`);
  });
});
