/**
 * OIDC claim details end to end, on a small stand of its own: a Keycloak-like
 * upstream whose groups live in `realm_access.roles`, a required `hd` claim,
 * and a group allow-list; chromium signs in, real kubectl uses the
 * credentials, and `kubectl auth whoami` at the API-server stand-in shows
 * the mapped groups.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as base, expect } from '@playwright/test';
import { ClusterPage, KubegateLoginPage } from './pages/portal';
import { UpstreamLoginPage } from './pages/upstream-login';
import { startApiServer, type ApiServer } from './support/apiserver';
import { createTestPki } from './support/certs';
import { freePort, startKubegate, type KubegateProcess } from './support/kubegate';
import { kubectlEnv, shell, whoami, type KubectlEnv } from './support/kubectl';
import { startTlsProxy } from './support/tls-proxy';
import { startUpstreamIdp, type UpstreamIdp } from './support/upstream-idp';

const API_PREFIX = 'oidc:';

const KIM = {
  username: 'kim',
  password: 'kim password 1',
  email: 'kim@example.com',
  name: 'Kim Keycloak',
  // The top-level groups claim is not what this upstream is configured to read.
  groups: ['not-these'],
  claims: { hd: 'example.com', realm_access: { roles: ['offline_access', 'uma_authorization', 'k8s-developers', 'k8s-ops'] } },
};
const MALLORY = {
  username: 'mallory',
  password: 'mallory password 1',
  email: 'mallory@evil.example',
  name: 'Mallory',
  groups: [],
  claims: { hd: 'evil.example', realm_access: { roles: ['k8s-developers'] } },
};

interface Stand {
  portal: string;
  idp: UpstreamIdp;
  kubegate: KubegateProcess;
  api: ApiServer;
  close(): Promise<void>;
}

async function startStand(): Promise<Stand> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-oidc-claims-'));
  const pki = await createTestPki(path.join(root, 'pki'));
  const [tlsPort, backendPort] = await Promise.all([freePort(), freePort()]);
  const portal = `https://127.0.0.1:${tlsPort}`;
  const idp = await startUpstreamIdp({
    title: 'Keycloak',
    clients: [{ client_id: 'kubegate', client_secret: 'kc-secret', redirect_uris: [`${portal}/api/auth/callback/keycloak`] }],
    users: [KIM, MALLORY],
  });
  const api = await startApiServer({
    tls: pki.issue('apiserver'),
    caPem: pki.caPem,
    oidc: { issuerUrl: portal, clientId: 'kubernetes', caPem: pki.caPem, usernameClaim: 'preferred_username', usernamePrefix: API_PREFIX, groupsClaim: 'groups', groupsPrefix: API_PREFIX },
  });
  const kubegate = await startKubegate({
    dir: path.join(root, 'kubegate'),
    port: backendPort,
    config: {
      issuer: { url: portal, certificate_authority: { data: pki.caPem } },
      server: { trust_proxy: true },
      upstreams: [
        {
          id: 'keycloak',
          type: 'oidc',
          display_name: 'Keycloak',
          issuer: idp.issuer,
          client_id: 'kubegate',
          client_secret: 'kc-secret',
          groups_claim: 'realm_access.roles',
          group_allowlist: ['k8s-*'],
          groups_prefix: 'kc:',
          required_claims: { hd: 'example.com', email_verified: true },
          allow_insecure_http: true,
        },
      ],
      clusters: [
        {
          name: 'prod',
          server: api.url,
          certificate_authority: { data: pki.caPem },
          client_id: 'kubernetes',
          allowed_groups: ['kc:k8s-developers'],
        },
      ],
    },
  });
  const proxy = await startTlsProxy({ target: kubegate.url, tls: pki.issue('kubegate'), port: tlsPort });
  return {
    portal,
    idp,
    kubegate,
    api,
    async close() {
      await Promise.allSettled([kubegate.close(), proxy.close(), api.close(), idp.close()]);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

const test = base.extend<{ kube: KubectlEnv }, { stand: Stand }>({
  stand: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
    async ({}, use) => {
      const stand = await startStand();
      await use(stand);
      await stand.close();
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  context: async ({ context, stand }, use) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stand.portal });
    await use(context);
  },
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
  kube: async ({}, use, testInfo) => {
    const dir = testInfo.outputPath('kube');
    fs.mkdirSync(dir, { recursive: true });
    await use(kubectlEnv(dir));
  },
});

test.afterEach(async ({ stand }, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) fs.writeFileSync(testInfo.outputPath('kubegate.log'), stand.kubegate.output());
});

test('groups from a nested claim, filtered and prefixed, reach kubectl auth whoami', async ({ page, stand, kube }) => {
  const login = new KubegateLoginPage(page, stand.portal);
  await login.open();
  await login.chooseUpstream('Keycloak');
  const upstream = new UpstreamLoginPage(page);
  await upstream.expectShown();
  await upstream.signIn(KIM.username, KIM.password);
  await expect(page).toHaveURL(`${stand.portal}/`);

  const cluster = new ClusterPage(page, stand.portal);
  await cluster.openWithCredentials('prod');
  const setup = await shell('bash', await cluster.copyScript('bash'), kube);
  expect(setup.code, setup.stderr).toBe(0);

  const me = await whoami(kube);
  expect(me.ok, me.result.stderr).toBe(true);
  expect(me.username).toBe(`${API_PREFIX}kim`);
  // realm_access.roles, only the allow-listed ones, with the upstream's prefix; never the top-level `groups`.
  expect((me.groups ?? []).filter((g) => g !== 'system:authenticated').sort()).toEqual([`${API_PREFIX}kc:k8s-developers`, `${API_PREFIX}kc:k8s-ops`]);
});

test('a required claim that does not hold refuses the sign-in, naming no value', async ({ page, stand }) => {
  const login = new KubegateLoginPage(page, stand.portal);
  await login.open();
  await login.chooseUpstream('Keycloak');
  await new UpstreamLoginPage(page).signIn(MALLORY.username, MALLORY.password);
  await expect(page).toHaveURL(new RegExp(`^${stand.portal}/login`));
  await expect(login.alert()).toContainText('not allowed to sign in here');
  await expect(page.locator('body')).not.toContainText('evil.example');
  // The audit trail and log name the claim, for the platform team.
  await expect.poll(() => stand.kubegate.output()).toContain('required claim \\"hd\\" does not have an accepted value');
});
