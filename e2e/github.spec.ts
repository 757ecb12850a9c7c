/**
 * Sign-in through GitHub (here: the GitHub Enterprise Server shape, API under
 * /api/v3) in chromium, ending with real kubectl. A small world of its own:
 *
 *   chromium ─► TLS proxy (https) ─► Kubegate ─► GitHub stand-in (http, loopback)
 *   kubectl  ─► API-server stand-in (https), which trusts Kubegate as its OIDC issuer
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as base, expect, type Page } from '@playwright/test';
import Database from 'better-sqlite3';
import { startGitHubStandin, type GitHubStandin } from '../test/support/github-standin';
import { ClusterPage, KubegateLoginPage } from './pages/portal';
import { startApiServer, type ApiServer } from './support/apiserver';
import { createTestPki } from './support/certs';
import { freePort, startKubegate, type KubegateProcess } from './support/kubegate';
import { kubectlEnv, shell, whoami, type KubectlEnv } from './support/kubectl';
import { startTlsProxy } from './support/tls-proxy';

const PREFIX = 'kubegate:';

interface GitHubWorld {
  portal: string;
  github: GitHubStandin;
  kubegate: KubegateProcess;
  api: ApiServer;
}

const test = base.extend<{ kube: KubectlEnv }, { world: GitHubWorld }>({
  world: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
    async ({}, use) => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-e2e-github-'));
      const pki = await createTestPki(path.join(root, 'pki'));
      const [tlsPort, backendPort] = await Promise.all([freePort(), freePort()]);
      const portal = `https://127.0.0.1:${tlsPort}`;
      const github = await startGitHubStandin({
        // The callback URL an admin registers for the OAuth app: <issuer.url>/api/auth/callback/<upstream id>.
        apps: [{ client_id: 'Iv1.e2e0123456789', client_secret: 'gh-app-secret', callback_url: `${portal}/api/auth/callback/github` }],
        users: [
          { id: 583231, login: 'octocat', name: 'The Octocat', email: null, emails: [{ email: 'octocat@acme.example', primary: true, verified: true }] },
          { id: 990001, login: 'mallory', name: 'Mallory', email: 'mallory@evil.example' },
        ],
        orgs: [
          { login: 'acme', members: ['octocat'] },
          { login: 'widgets', members: ['octocat'] },
          { login: 'evil', members: ['octocat', 'mallory'] },
        ],
        teams: [
          { org: 'acme', slug: 'platform', members: ['octocat'] },
          { org: 'acme', slug: 'sre', members: ['octocat'] },
          { org: 'widgets', slug: 'ops', members: ['octocat'] },
          { org: 'widgets', slug: 'marketing', members: ['octocat'] },
          { org: 'evil', slug: 'admins', members: ['octocat', 'mallory'] },
        ],
      });
      // Two teams per page: the sign-in walks /user/teams by its Link header.
      github.maxPerPage = 2;
      const api = await startApiServer({
        tls: pki.issue('apiserver'),
        caPem: pki.caPem,
        oidc: { issuerUrl: portal, clientId: 'kubernetes', caPem: pki.caPem, usernameClaim: 'preferred_username', usernamePrefix: PREFIX, groupsClaim: 'groups', groupsPrefix: PREFIX },
      });
      const kubegate = await startKubegate({
        dir: path.join(root, 'kubegate'),
        port: backendPort,
        config: {
          issuer: { url: portal, certificate_authority: { data: pki.caPem } },
          server: { trust_proxy: true },
          upstreams: [
            {
              id: 'github',
              type: 'github',
              display_name: 'GitHub Enterprise',
              client_id: 'Iv1.e2e0123456789',
              client_secret: 'gh-app-secret',
              base_url: github.url,
              allow_insecure_http: true,
              orgs: [{ name: 'acme' }, { name: 'widgets', teams: ['ops'] }],
              timeout: '3s',
            },
          ],
          clusters: [{ name: 'prod', display_name: 'Production', server: api.url, certificate_authority: { data: pki.caPem }, client_id: 'kubernetes', allowed_groups: ['acme'] }],
        },
      });
      const proxy = await startTlsProxy({ target: kubegate.url, tls: pki.issue('kubegate'), port: tlsPort });
      await use({ portal, github, kubegate, api });
      await Promise.allSettled([kubegate.close(), proxy.close(), api.close(), github.close()]);
      fs.rmSync(root, { recursive: true, force: true });
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  context: async ({ context, world }, use) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: world.portal });
    await use(context);
  },
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
  kube: async ({}, use, testInfo) => {
    const dir = testInfo.outputPath('kube');
    fs.mkdirSync(dir, { recursive: true });
    await use(kubectlEnv(dir));
  },
});

test.afterEach(async ({ world }, testInfo) => {
  world.github.fail(false);
  if (testInfo.status !== testInfo.expectedStatus) fs.writeFileSync(testInfo.outputPath('kubegate.log'), world.kubegate.output());
});

/** Kubegate's sign-in page → "Sign in with GitHub Enterprise" → the stand-in's authorize page as `login`. */
async function signInWithGitHub(page: Page, portal: string, login: string): Promise<void> {
  const kubegate = new KubegateLoginPage(page, portal);
  await kubegate.open();
  await kubegate.chooseUpstream('GitHub Enterprise');
  await expect(page).toHaveURL(/\/login\/oauth\/authorize\?/);
  await page.getByLabel('Username or email address').fill(login);
  await page.getByRole('button', { name: 'Authorize' }).click();
}

test('a GitHub org member signs in; kubectl auth whoami shows the login and org/team groups', async ({ page, world, kube }) => {
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await signInWithGitHub(page, world.portal, 'octocat');
  await expect(page).toHaveURL(`${world.portal}/`);

  // The code flow ran as GitHub documents it: PKCE, state, our scopes, the registered callback.
  const authorize = world.github.requests.find((r) => r.path === '/login/oauth/authorize' && r.method === 'GET');
  const asked = new URLSearchParams(authorize?.query);
  expect(asked.get('scope')).toBe('read:user user:email read:org');
  expect(asked.get('code_challenge_method')).toBe('S256');
  expect(asked.get('state')).toBeTruthy();
  expect(asked.get('redirect_uri')).toBe(`${world.portal}/api/auth/callback/github`);
  expect(world.github.requests.filter((r) => r.path === '/api/v3/user/teams').length).toBe(3);

  const clusters = new ClusterPage(page, world.portal);
  await clusters.openWithCredentials('prod');
  const setup = await shell('bash', await clusters.copyScript('bash'), kube);
  expect(setup.code, setup.stderr).toBe(0);
  const me = await whoami(kube);
  expect(me.ok, me.result.stderr).toBe(true);
  expect(me.username).toBe(`${PREFIX}octocat`);
  expect(me.groups?.filter((g) => g !== 'system:authenticated').sort()).toEqual(
    // widgets admits (and maps) only its ops team; evil is not configured at all.
    ['acme', 'acme/platform', 'acme/sre', 'widgets', 'widgets/ops'].map((g) => PREFIX + g),
  );
  expect(cspViolations).toEqual([]);
  // The GitHub access token is Kubegate's to keep: it never reaches its log.
  const tokens = world.github.tokens.filter((t) => t.login === 'octocat').map((t) => t.token);
  expect(tokens.length).toBeGreaterThan(0);
  for (const t of tokens) expect(world.kubegate.output()).not.toContain(t);
});

test('a GitHub user outside the allowed orgs is refused with a clear message', async ({ page, world }) => {
  await signInWithGitHub(page, world.portal, 'mallory');
  await expect(page).toHaveURL(/\/login\?error=not_allowed/);
  await expect(page.locator('#login-error')).toContainText('not allowed to sign in here');
  // No session: the portal still sends this browser to sign in.
  await page.goto(`${world.portal}/`);
  await expect(page).toHaveURL(/\/login/);
  // The audit trail says who and why, as an auditor reads it from the database.
  const db = new Database(world.kubegate.dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT details FROM audit_events WHERE kind = 'session.login_failed'").all() as Array<{ details: string }>;
    const refused = rows.map((r) => JSON.parse(r.details) as { upstream?: string; reason?: string; detail?: string }).filter((d) => d.reason === 'not_allowed');
    expect(refused).toEqual([expect.objectContaining({ upstream: 'github', detail: expect.stringContaining('mallory (id 990001)') })]);
  } finally {
    db.close();
  }
});

test('GitHub’s API down at sign-in: the page says the provider did not answer', async ({ page, world }) => {
  world.github.fail('error', 'api');
  await signInWithGitHub(page, world.portal, 'octocat');
  await expect(page).toHaveURL(/\/login\?error=unavailable/);
  await expect(page.locator('#login-error')).toContainText('did not answer in time');
});

test('a token endpoint that hangs ends the sign-in within the configured timeout, not the browser’s patience', async ({ page, world }) => {
  world.github.fail('hang', 'token');
  const kubegate = new KubegateLoginPage(page, world.portal);
  await kubegate.open();
  await kubegate.chooseUpstream('GitHub Enterprise');
  await page.getByLabel('Username or email address').fill('octocat');
  const started = Date.now();
  await page.getByRole('button', { name: 'Authorize' }).click();
  await expect(page).toHaveURL(/\/login\?error=/, { timeout: 15_000 });
  // timeout: 3s in the config; without it next-auth's fetch would wait for minutes.
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(3000);
  expect(elapsed).toBeLessThan(8000);
  await expect(page.locator('#login-error')).toBeVisible();
  expect(world.kubegate.output()).toMatch(/TimeoutError|aborted due to timeout/);
});
