/**
 * Second factors end to end, with their own small topology:
 *
 *   chromium ─► Kubegate (http, own issuer URL) ─► oidc-provider upstream (one user proves MFA there)
 *   bash + kubectl ─► API-server stand-in (https), trusting that Kubegate
 *
 * Policy: members of `admins` need a second factor; cluster `vault` asks
 * for one from everybody (step-up); cluster `dev` asks nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { decodeJwt } from 'jose';
import { test as base, expect, type Page } from '@playwright/test';
import { totpCodeAt } from '../lib/mfa/totp';
import { UpstreamLoginPage } from './pages/upstream-login';
import { worldFixtures, type WorldFixtures } from './support/world-fixtures';
import { startApiServer, type ApiServer } from './support/apiserver';
import { createTestPki } from './support/certs';
import { freePort, startKubegate, type KubegateProcess } from './support/kubegate';
import { authProviderConfig, shell, whoami, type KubectlEnv } from './support/kubectl';
import { startUpstreamIdp, type UpstreamIdp } from './support/upstream-idp';

const PREFIX = 'kubegate:';
const LOCAL = 'Local account';
const ADMIN = { username: 'ada', password: 'ada password 1' };
const DEV = { username: 'dan', password: 'dan password 1' };
const UPSTREAM_MFA = { username: 'uma', password: 'uma password 1', email: 'uma@example.com', name: 'Uma', groups: ['admins'], claims: { amr: ['pwd', 'mfa'] } };

interface MfaWorld {
  portal: string;
  kubegate: KubegateProcess;
  idp: UpstreamIdp;
  api: ApiServer;
}

const test = base.extend<WorldFixtures, { world: MfaWorld }>({
  world: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
    async ({}, use) => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-e2e-mfa-'));
      const pki = await createTestPki(path.join(root, 'pki'));
      const [port, idpPort] = await Promise.all([freePort(), freePort()]);
      const portal = `http://127.0.0.1:${port}`;
      const idp = await startUpstreamIdp({
        port: idpPort,
        clients: [{ client_id: 'kubegate', client_secret: 'upstream-secret', redirect_uris: [`${portal}/api/auth/callback/corp`] }],
        users: [UPSTREAM_MFA],
      });
      const oidc = (clientId: string) => ({
        issuerUrl: portal,
        clientId,
        usernameClaim: 'preferred_username',
        usernamePrefix: PREFIX,
        groupsClaim: 'groups',
        groupsPrefix: PREFIX,
        allowInsecureIssuer: true,
      });
      const api = await startApiServer({ tls: pki.issue('apiserver'), caPem: pki.caPem, oidc: oidc('kubernetes') });
      const kubegate = await startKubegate({
        dir: path.join(root, 'kubegate'),
        port,
        config: {
          issuer: { url: portal },
          mfa: { required_groups: ['admins'] },
          upstreams: [
            { id: 'corp', type: 'oidc', display_name: 'Corp SSO', issuer: idp.issuer, client_id: 'kubegate', client_secret: 'upstream-secret', scopes: ['groups'], allow_insecure_http: true },
            { id: 'local', type: 'local', display_name: LOCAL },
          ],
          users: [
            { username: ADMIN.username, password_hash: bcrypt.hashSync(ADMIN.password, 4), groups: ['admins'] },
            { username: DEV.username, password_hash: bcrypt.hashSync(DEV.password, 4), groups: ['dev'] },
          ],
          clusters: [
            { name: 'dev', server: api.url, certificate_authority: { data: pki.caPem }, client_id: 'kubernetes' },
            { name: 'vault', server: api.url, certificate_authority: { data: pki.caPem }, client_id: 'vault', require_mfa: true },
          ],
        },
      });
      await use({ portal, kubegate, idp, api });
      await Promise.allSettled([kubegate.close(), api.close(), idp.close()]);
      fs.rmSync(root, { recursive: true, force: true });
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  ...worldFixtures,
});

test.afterEach(async ({ world }, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) fs.writeFileSync(testInfo.outputPath('kubegate.log'), world.kubegate.output());
});

/** The next TOTP step's code: a code already used is refused, so each verification waits for a fresh step. */
async function freshCode(secret: string, after: { step: number }): Promise<string> {
  let step = Math.floor(Date.now() / 30_000);
  while (step <= after.step) {
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 200));
    step = Math.floor(Date.now() / 30_000);
  }
  after.step = step;
  return totpCodeAt(secret, Date.now());
}

async function enterCode(page: Page, code: string): Promise<void> {
  await page.getByLabel('Code from your authenticator app, or a recovery code').fill(code);
  await page.getByRole('button', { name: 'Verify' }).click();
}

/** The id_token kubectl holds (each test has its own kubeconfig, with one user). */
function idTokenFrom(kube: KubectlEnv): Record<string, unknown> {
  return decodeJwt(authProviderConfig(kube.kubeconfig)['id-token']!) as Record<string, unknown>;
}

test.describe('second factors', () => {
  test('an admin enrolls TOTP right after the password, nothing mints before; the next sign-in asks for a code, a replayed code and a spent recovery code are refused', async ({
    page,
    world,
    login,
    clusterPage,
    kube,
  }) => {
    test.setTimeout(150_000);
    await login.open();
    await login.signInWithPassword(LOCAL, ADMIN.username, ADMIN.password);
    // First factor done, second pending: enrollment, and no cluster or credential is reachable.
    await expect(page).toHaveURL(/\/mfa/);
    await expect(page.getByRole('heading', { name: 'Set up a second factor' })).toBeVisible();
    await page.goto(`${world.portal}/clusters/dev`);
    await expect(page).toHaveURL(/\/mfa/);
    const refused = await page.request.post(`${world.portal}/clusters/dev/kubeconfig`, { form: { csrf: 'x' }, maxRedirects: 0 });
    expect(refused.status()).toBe(303);
    expect(refused.headers()['location']).toContain('/login');
    await page.goto(`${world.portal}/mfa`);

    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    const used = { step: 0 };
    await page.getByLabel('The 6-digit code your app shows now').fill('000000');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect(page.locator('#mfa-error')).toContainText('not right');
    await page.getByLabel('The 6-digit code your app shows now').fill(await freshCode(secret, used));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect(page.getByTestId('recovery-codes').locator('li')).toHaveCount(10);
    const codes = (await page.getByTestId('recovery-codes').locator('li').allTextContents()).map((c) => c.trim());
    expect(codes).toHaveLength(10);
    await page.getByRole('link', { name: /continue/ }).click();

    // Complete: the id_token says how.
    await clusterPage.openWithCredentials('dev');
    const setup = await shell('bash', await clusterPage.copyScript('bash'), kube);
    expect(setup.code, setup.stderr).toBe(0);
    const me = await whoami(kube);
    expect(me.username).toBe(`${PREFIX}ada`);
    const claims = idTokenFrom(kube);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('aal2');

    // Next sign-in: a code is asked for; the code already used is refused, the next one works.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await login.open();
    await login.signInWithPassword(LOCAL, ADMIN.username, ADMIN.password);
    await expect(page.getByRole('heading', { name: 'Verify it is you' })).toBeVisible();
    await enterCode(page, totpCodeAt(secret, used.step * 30_000));
    await expect(page.locator('#mfa-error')).toContainText('used already');
    await enterCode(page, await freshCode(secret, used));
    await expect(page).toHaveURL(`${world.portal}/`);

    // A recovery code works once.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await login.open();
    await login.signInWithPassword(LOCAL, ADMIN.username, ADMIN.password);
    await enterCode(page, codes[0]!);
    await expect(page).toHaveURL(`${world.portal}/`);
    await page.goto(`${world.portal}/security`);
    await expect(page.getByTestId('recovery-count')).toHaveText('9 of 10 unused.');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await login.open();
    await login.signInWithPassword(LOCAL, ADMIN.username, ADMIN.password);
    await enterCode(page, codes[0]!);
    await expect(page.locator('#mfa-error')).toBeVisible();
    await expect(page).toHaveURL(/\/mfa/);
  });

  test('a cluster that asks for MFA sends a one-factor session through step-up; other clusters do not', async ({ page, world, login, clusterPage, kube }) => {
    test.setTimeout(120_000);
    await login.open();
    await login.signInWithPassword(LOCAL, DEV.username, DEV.password);
    await expect(page).toHaveURL(`${world.portal}/`);
    await clusterPage.openWithCredentials('dev');
    const setup = await shell('bash', await clusterPage.copyScript('bash'), kube);
    expect(setup.code, setup.stderr).toBe(0);
    expect(idTokenFrom(kube)).toMatchObject({ amr: ['pwd'], acr: 'aal1' });

    await page.goto(`${world.portal}/clusters/vault`);
    await expect(page).toHaveURL(`${world.portal}/mfa?next=%2Fclusters%2Fvault`);
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    await page.getByLabel('The 6-digit code your app shows now').fill(totpCodeAt(secret, Date.now()));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('link', { name: /continue/ }).click();
    await expect(page).toHaveURL(`${world.portal}/clusters/vault`);
    await expect(clusterPage.getCredentialsButton()).toBeVisible();
  });

  test('an upstream that proved MFA (amr "mfa") satisfies the policy without a second prompt', async ({ page, world, login, clusterPage, kube }) => {
    await login.open();
    await login.chooseUpstream('Corp SSO');
    const upstream = new UpstreamLoginPage(page);
    await upstream.expectShown();
    await upstream.signIn(UPSTREAM_MFA.username, UPSTREAM_MFA.password);
    await expect(page).toHaveURL(`${world.portal}/`);
    // An admin (MFA required) and a step-up cluster: both open at once.
    await clusterPage.open('vault');
    await clusterPage.openWithCredentials('dev');
    const setup = await shell('bash', await clusterPage.copyScript('bash'), kube);
    expect(setup.code, setup.stderr).toBe(0);
    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    expect(me.groups).toContain(`${PREFIX}admins`);
    expect(idTokenFrom(kube)).toMatchObject({ amr: ['pwd', 'mfa'], acr: 'aal2' });
  });
});
