/**
 * Passkeys as the second factor, end to end, with its own small topology:
 *
 *   chromium (+ a CDP virtual authenticator) ─► Kubegate (http://localhost:<port>, local accounts, MFA for `platform`)
 *   bash + kubectl ─► API-server stand-in (https), which trusts that Kubegate as its issuer
 *
 * The issuer is http://localhost (a secure context for the browser): WebAuthn
 * needs a domain as the relying-party id and refuses IP addresses.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import Database from 'better-sqlite3';
import { test as base, expect, type CDPSession, type Page } from '@playwright/test';
import { KubegateLoginPage } from './pages/portal';
import { worldFixtures, type WorldFixtures } from './support/world-fixtures';
import { startApiServer, type ApiServer } from './support/apiserver';
import { watchConsoleErrors } from './support/console-errors';
import { createTestPki } from './support/certs';
import { freePort, startKubegate, type KubegateProcess } from './support/kubegate';
import { authProviderConfig, shell, whoami } from './support/kubectl';

const PREFIX = 'kubegate:';
const LOCAL = 'Local accounts';
const CAROL = { username: 'carol', password: 'carol local password 1', groups: ['platform'] };
const DAVE = { username: 'dave', password: 'dave local password 1', groups: ['platform'] };
const ERIN = { username: 'erin', password: 'erin local password 1', groups: ['platform'] };

interface PasskeyWorld {
  portal: string;
  kubegate: KubegateProcess;
  api: ApiServer;
}

const test = base.extend<WorldFixtures, { world: PasskeyWorld }>({
  world: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
    async ({}, use) => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-e2e-passkeys-'));
      const pki = await createTestPki(path.join(root, 'pki'));
      const port = await freePort();
      const portal = `http://localhost:${port}`;
      const api = await startApiServer({
        tls: pki.issue('apiserver'),
        caPem: pki.caPem,
        oidc: { issuerUrl: portal, clientId: 'kubernetes', usernameClaim: 'preferred_username', usernamePrefix: PREFIX, groupsClaim: 'groups', groupsPrefix: PREFIX, allowInsecureIssuer: true },
      });
      const kubegate = await startKubegate({
        dir: path.join(root, 'kubegate'),
        port,
        config: {
          issuer: { url: portal },
          // The issuer's host (`localhost`) is not the listen address (127.0.0.1): Next renders a server
          // action's redirect target by fetching it from the listen address, which must keep its cookies
          // ("Remove" on /security once landed on the home page: lib/http/portal-request.ts isOwnRedirectRender).
          upstreams: [{ id: 'local', type: 'local', display_name: LOCAL }],
          users: [CAROL, DAVE, ERIN].map((u) => ({ username: u.username, password_hash: bcrypt.hashSync(u.password, 4), groups: u.groups })),
          mfa: { required_groups: ['platform'], passwordless_local: true },
          clusters: [
            { name: 'prod', display_name: 'Production', server: api.url, certificate_authority: { data: pki.caPem }, client_id: 'kubernetes', allowed_groups: ['platform'], require_mfa: true },
          ],
        },
      });
      await use({ portal, kubegate, api });
      await Promise.allSettled([kubegate.close(), api.close()]);
      fs.rmSync(root, { recursive: true, force: true });
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  ...worldFixtures,
});

test.afterEach(async ({ world }, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) fs.writeFileSync(testInfo.outputPath('kubegate.log'), world.kubegate.output());
});

/**
 * A platform authenticator with user verification (Touch ID, Windows Hello),
 * simulated by chromium itself: WebAuthn.addVirtualAuthenticator over CDP.
 */
async function virtualAuthenticator(page: Page, opts: { synced?: boolean; cdp?: CDPSession } = {}): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = opts.cdp ?? (await page.context().newCDPSession(page));
  if (!opts.cdp) await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      // A synced passkey (a password manager's): backup eligible and backed up.
      ...(opts.synced ? { defaultBackupEligibility: true, defaultBackupState: true } : {}),
    },
  });
  return { cdp, authenticatorId };
}

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

function audit(dbPath: string, kind: string): Record<string, unknown>[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT details FROM audit_events WHERE kind = ? ORDER BY id').all(kind) as { details: string }[]).map((r) => JSON.parse(r.details) as Record<string, unknown>);
  } finally {
    db.close();
  }
}

test.describe('passkeys as the second factor', () => {
  test('carol enrolls a passkey after her password, signs in again with it, and kubectl gets an id_token whose amr says mfa + hwk', async ({
    page,
    world,
    login,
    home,
    clusterPage,
    kube,
  }) => {
    test.setTimeout(150_000);
    const errors = watchConsoleErrors(page, world.portal);
    const { cdp, authenticatorId } = await virtualAuthenticator(page);

    // First sign-in: the password, then enrollment (MFA is required for `platform`, nothing is enrolled yet).
    await login.open();
    await login.signInWithPassword(LOCAL, CAROL.username, CAROL.password);
    await expect(page).toHaveURL(new RegExp(`^${world.portal}/mfa`));
    await expect(page.getByRole('heading', { name: 'Set up a second factor' })).toBeVisible();
    await page.getByLabel('Passkey name').fill('Work laptop');
    await page.getByRole('button', { name: 'Set up a passkey' }).click();
    const enrolled = page.getByTestId('passkey-enrolled');
    await expect(enrolled).toBeVisible();
    await expect(enrolled.getByTestId('recovery-codes').locator('li')).toHaveCount(10);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]!.rpId).toBe('localhost');
    await enrolled.getByRole('link', { name: /continue/ }).click();
    await expect(page).toHaveURL(`${world.portal}/`);
    await expect(home.username()).toHaveText(CAROL.username);

    // The security page lists it: its name, device-bound (the virtual authenticator's key cannot be backed up).
    await page.goto(`${world.portal}/security`);
    await expect(page.getByTestId('factors')).toContainText('Work laptop');
    await expect(page.getByTestId('factors')).toContainText('Passkey (device-bound)');

    await home.open();
    await home.signOut();

    // Second sign-in: the password alone reaches only the second-factor prompt.
    await login.open();
    await login.signInWithPassword(LOCAL, CAROL.username, CAROL.password);
    await expect(page).toHaveURL(new RegExp(`^${world.portal}/mfa`));
    await expect(page.getByRole('heading', { name: 'Verify it is you' })).toBeVisible();
    await page.goto(`${world.portal}/clusters/prod`);
    await expect(page).toHaveURL(new RegExp(`^${world.portal}/mfa`));
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await expect(page).toHaveURL(`${world.portal}/`);
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(after.credentials[0]!.signCount).toBeGreaterThan(credentials[0]!.signCount);

    // A cluster that requires MFA opens, and its credentials work in real kubectl.
    await clusterPage.openWithCredentials('prod');
    const setup = await shell('bash', await clusterPage.copyScript('bash'), kube);
    expect(setup.code, setup.stderr).toBe(0);
    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    expect(me.username).toBe(`${PREFIX}${CAROL.username}`);
    expect(me.groups).toContain(`${PREFIX}platform`);

    // The id_token kubectl holds says how carol signed in (RFC 8176): password, a hardware-bound key, MFA.
    const claims = claimsOf(authProviderConfig(kube.kubeconfig)['id-token']!);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'mfa']));
    expect(claims.amr).not.toContain('swk');
    expect(claims.acr).toBe('aal2');
    expect(world.api.requests.some((r) => r.user === `${PREFIX}${CAROL.username}` && r.status === 200)).toBe(true);

    // Audited: the enrollment and both verifications, with the passkey's backup state.
    expect(audit(world.kubegate.dbPath, 'mfa.enrolled')).toEqual([expect.objectContaining({ kind: 'webauthn', name: 'Work laptop', backup_eligible: false })]);
    expect(audit(world.kubegate.dbPath, 'mfa.verified').filter((d) => d.method === 'webauthn' && (d.amr as string[]).includes('hwk'))).toHaveLength(2);
    expect(errors).toEqual([]);
  });

  test('dave adds a synced passkey on the security page, removes the device-bound one, and then signs in as swk', async ({ page, world, login, home }) => {
    test.setTimeout(120_000);
    const errors = watchConsoleErrors(page, world.portal);
    const laptop = await virtualAuthenticator(page);
    await login.open();
    await login.signInWithPassword(LOCAL, DAVE.username, DAVE.password);
    await expect(page).toHaveURL(new RegExp(`^${world.portal}/mfa`));
    await page.getByLabel('Passkey name').fill('Laptop');
    await page.getByRole('button', { name: 'Set up a passkey' }).click();
    await page.getByTestId('passkey-enrolled').getByRole('link', { name: /continue/ }).click();
    await expect(page).toHaveURL(`${world.portal}/`);

    // The laptop goes away; a password manager's synced passkey is added in its place.
    await laptop.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptop.authenticatorId });
    await virtualAuthenticator(page, { synced: true, cdp: laptop.cdp });
    await page.goto(`${world.portal}/security`);
    await page.getByLabel('Passkey name').fill('Password manager');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    const factors = page.getByTestId('factors');
    await expect(factors.locator('li')).toHaveCount(2);
    await expect(factors.locator('li', { hasText: 'Password manager' })).toContainText('Passkey (synced)');
    await expect(factors.locator('li', { hasText: 'Laptop' })).toContainText('Passkey (device-bound)');
    await factors.locator('li', { hasText: 'Laptop' }).getByRole('button', { name: 'Remove' }).click();
    await expect(factors.locator('li')).toHaveCount(1);
    await expect(factors).toContainText('Password manager');

    await home.open();
    await home.signOut();
    await login.open();
    await login.signInWithPassword(LOCAL, DAVE.username, DAVE.password);
    await expect(page).toHaveURL(new RegExp(`^${world.portal}/mfa`));
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await expect(page).toHaveURL(`${world.portal}/`);
    await page.goto(`${world.portal}/security`);
    // The session's methods, as every id_token minted from it will carry them.
    await expect(page.getByText('This session has shown a second factor (pwd, swk, mfa)')).toBeVisible();
    const verified = audit(world.kubegate.dbPath, 'mfa.verified').at(-1)!;
    expect(verified).toMatchObject({ method: 'webauthn', backup_eligible: true, backed_up: true, amr: ['pwd', 'swk', 'mfa'] });
    expect(errors).toEqual([]);
  });

  test('with passwordless_local, erin signs in with her passkey alone: no password, a complete session (hwk + mfa)', async ({ page, world, login, home, clusterPage }) => {
    const errors = watchConsoleErrors(page, world.portal);
    await virtualAuthenticator(page);
    await login.open();
    await login.signInWithPassword(LOCAL, ERIN.username, ERIN.password);
    await page.getByLabel('Passkey name').fill('Laptop');
    await page.getByRole('button', { name: 'Set up a passkey' }).click();
    await page.getByTestId('passkey-enrolled').getByRole('link', { name: /continue/ }).click();
    await expect(page).toHaveURL(`${world.portal}/`);
    await home.signOut();

    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect(page).toHaveURL(`${world.portal}/`);
    await expect(home.username()).toHaveText(ERIN.username);
    // Straight to a cluster that requires MFA: no second prompt.
    await clusterPage.open('prod');
    await page.goto(`${world.portal}/security`);
    await expect(page.getByText('This session has shown a second factor (hwk, mfa)')).toBeVisible();
    const logins = audit(world.kubegate.dbPath, 'session.login');
    expect(logins.at(-1)).toMatchObject({ amr: ['hwk', 'mfa'] });
    expect(errors).toEqual([]);
  });

  test('passkey sign-in: its options are refused cross-origin; an authenticator with no passkey for this site gets an explanation, not a session', async ({ page, world, login }) => {
    await login.open();
    const res = await page.request.post(`${world.portal}/api/passkeys/login-options`, { headers: { origin: 'https://evil.test', 'content-type': 'application/json' }, data: {} });
    expect(res.status()).toBe(403);
    // An authenticator holding no passkey for this site: the browser refuses, the page explains.
    await virtualAuthenticator(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect(page.locator('#passkey-error')).toBeVisible({ timeout: 30_000 });
    await expect(page).toHaveURL(/\/login/);
  });

  test('the passkey endpoints refuse a request from another origin, or without the session’s CSRF token', async ({ page, world }) => {
    // Carol is signed in up to the second-factor prompt, in a fresh browser context.
    const login = new KubegateLoginPage(page, world.portal);
    await login.open();
    await login.signInWithPassword(LOCAL, CAROL.username, CAROL.password);
    await expect(page).toHaveURL(new RegExp(`^${world.portal}/mfa`));
    const cookie = (await page.context().cookies(world.portal)).map((c) => `${c.name}=${c.value}`).join('; ');
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(`${world.portal}/api/passkeys/authenticate-options`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, ...headers }, body: JSON.stringify(body) });

    const crossSite = await post({ origin: 'https://evil.test' }, { csrf: 'x' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('cache-control')).toBe('no-store');
    const noToken = await post({ origin: world.portal }, { csrf: 'not-the-token' });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { error: string }).error).toBe('not_from_portal');
    const malformed = await post({ origin: world.portal }, { nope: true });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { issues: string[] }).issues.join(' ')).toMatch(/csrf/);
  });
});
