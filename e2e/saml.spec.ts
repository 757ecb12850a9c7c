/**
 * SAML end to end, with a small setup of its own:
 *
 *   chromium ─► TLS proxy ─► Kubegate (production build, one saml upstream)
 *      └──► test SAML IdP (samlify, http on loopback): login form, auto-post to our ACS
 *   real kubectl ─► API-server stand-in trusting Kubegate as its OIDC issuer
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect, test, type Page } from '@playwright/test';
import { startSamlIdp, type SamlIdp, type SamlTestUser } from '../test/support/saml-idp';
import { ClusterPage, KubegateLoginPage } from './pages/portal';
import { startApiServer, type ApiServer } from './support/apiserver';
import { createTestPki } from './support/certs';
import { watchConsoleErrors } from './support/console-errors';
import { freePort, startKubegate, type KubegateProcess } from './support/kubegate';
import { kubectlEnv, shell, whoami } from './support/kubectl';
import { startTlsProxy, type TlsProxy } from './support/tls-proxy';

const PREFIX = 'kubegate:';
const UPSTREAM = 'corp-saml';
const ALICE: SamlTestUser = {
  username: 'alice',
  password: 'alice saml pw',
  nameId: '6f0c3f4e-2b1d-4c55-9a0e-5a1a1ce0a11c',
  email: 'alice@corp.test',
  displayName: 'Alice Liddell',
  groups: ['platform', 'sre'],
};

let root: string;
let idp: SamlIdp;
let kubegate: KubegateProcess;
let proxy: TlsProxy;
let api: ApiServer;
let portal: string;

/** GET over https trusting the test CA (Node's fetch has no per-request CA). */
function httpsGet(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

function auditEvents(dbPath: string): { kind: string; details: string }[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT kind, details FROM audit_events ORDER BY id').all() as { kind: string; details: string }[];
  } finally {
    db.close();
  }
}

test.beforeAll(async () => {
  test.setTimeout(120_000);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-e2e-saml-'));
  const pki = await createTestPki(path.join(root, 'pki'));
  const [tlsPort, backendPort] = await Promise.all([freePort(), freePort()]);
  portal = `https://127.0.0.1:${tlsPort}`;
  idp = await startSamlIdp([ALICE]);
  api = await startApiServer({
    tls: pki.issue('apiserver-prod'),
    caPem: pki.caPem,
    oidc: { issuerUrl: portal, clientId: 'kubernetes', caPem: pki.caPem, usernameClaim: 'preferred_username', usernamePrefix: PREFIX, groupsClaim: 'groups', groupsPrefix: PREFIX },
  });
  kubegate = await startKubegate({
    dir: path.join(root, 'kubegate'),
    port: backendPort,
    config: {
      issuer: { url: portal, certificate_authority: { data: pki.caPem } },
      server: { trust_proxy: true },
      upstreams: [{ id: UPSTREAM, type: 'saml', display_name: 'Corp SAML', idp_metadata_url: idp.metadataUrl, username_attribute: 'username' }],
      clusters: [{ name: 'prod', display_name: 'Production', server: api.url, certificate_authority: { data: pki.caPem }, client_id: 'kubernetes', allowed_groups: ['platform'] }],
    },
  });
  proxy = await startTlsProxy({ target: kubegate.url, tls: pki.issue('kubegate'), port: tlsPort });
  // The IdP admin registers Kubegate from its published SP metadata.
  idp.trustSp(await httpsGet(`${portal}/api/upstream/${UPSTREAM}/metadata`, pki.caPem));
});

test.afterAll(async () => {
  await Promise.allSettled([kubegate?.close(), proxy?.close(), api?.close(), idp?.close()]);
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

// eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) fs.writeFileSync(testInfo.outputPath('kubegate.log'), kubegate.output());
});

async function signInThroughIdp(page: Page) {
  const login = new KubegateLoginPage(page, portal);
  await login.open();
  await login.chooseUpstream('Corp SAML');
  await expect(page).toHaveURL(new RegExp(`^${idp.url}/sso\\?SAMLRequest=`));
  await page.getByLabel('Username').fill(ALICE.username);
  await page.getByLabel('Password').fill(ALICE.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The IdP's page auto-posts the response to our ACS; the seam then completes on our origin.
  await expect(page).toHaveURL(`${portal}/`);
}

test('signs in through the SAML IdP; real kubectl sees the mapped username and groups', async ({ page, context }, testInfo) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: portal });
  const consoleErrors = watchConsoleErrors(page, portal);
  await signInThroughIdp(page);
  await expect(page.getByTestId('username')).toHaveText('alice');

  const clusters = new ClusterPage(page, portal);
  await clusters.openWithCredentials('prod');
  const kube = kubectlEnv(testInfo.outputPath('kube'));
  const setup = await shell('bash', await clusters.copyScript('bash'), kube);
  expect(setup.code, setup.stderr).toBe(0);
  const me = await whoami(kube);
  expect(me.ok, me.result.stderr).toBe(true);
  expect(me.username).toBe(`${PREFIX}alice`);
  expect(me.groups).toEqual(expect.arrayContaining([`${PREFIX}platform`, `${PREFIX}sre`, 'system:authenticated']));
  expect(consoleErrors).toEqual([]);
});

test('a replayed SAML response gets the refusal page and an audit event', async ({ page, browser }) => {
  await signInThroughIdp(page);
  const captured = idp.lastResponse();
  expect(captured).toBeTruthy();

  // Someone who captured the POST (a shared machine's history, a proxy log) replays it from their own browser.
  const attacker = await browser.newContext({ ignoreHTTPSErrors: true });
  const evil = await attacker.newPage();
  await evil.setContent(
    `<form method="post" action="${portal}/api/upstream/${UPSTREAM}/acs"><input type="hidden" name="SAMLResponse" value="${captured}"><button>go</button></form>`,
  );
  await evil.getByRole('button', { name: 'go' }).click();
  await expect(evil).toHaveURL(new RegExp(`^${portal}/login\\?error=invalid_response`));
  await expect(evil.locator('#login-error')).toContainText('could not be accepted');
  await attacker.close();

  const refused = auditEvents(kubegate.dbPath).filter((e) => e.kind === 'session.login_failed');
  expect(refused.map((e) => JSON.parse(e.details) as { detail: string }).some((d) => /replayed assertion/.test(d.detail))).toBe(true);
});
