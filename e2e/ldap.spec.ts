/**
 * Signing in through the LDAP connector, end to end, with its own small
 * topology (not the shared one in support/topology.ts):
 *
 *   chromium ─► Kubegate (http, own issuer URL) ─► slapd (test/support/slapd.ts, seeded)
 *   bash + kubectl ─► API-server stand-in (https), which trusts that Kubegate as its issuer
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as base, expect } from '@playwright/test';
import { worldFixtures, type WorldFixtures } from './support/world-fixtures';
import { startApiServer, type ApiServer } from './support/apiserver';
import { createTestPki } from './support/certs';
import { freePort, startKubegate, type KubegateProcess } from './support/kubegate';
import { shell, whoami } from './support/kubectl';
import { Attribute, Change } from 'ldapts';
import { GROUPS_DN, groupDn, INJECTION_GROUP, PEOPLE_DN, SERVICE_DN, SERVICE_PASSWORD, seedDirectory, startSlapd, type Slapd, userDn, USERS } from '../test/support/slapd';

const PREFIX = 'kubegate:';
const LABEL = 'Example Directory';

interface LdapWorld {
  portal: string;
  kubegate: KubegateProcess;
  slapd: Slapd;
  api: ApiServer;
}

const test = base.extend<WorldFixtures, { world: LdapWorld }>({
  world: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
    async ({}, use) => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-e2e-ldap-'));
      const slapd = await startSlapd();
      await seedDirectory(slapd);
      const pki = await createTestPki(path.join(root, 'pki'));
      const port = await freePort();
      const portal = `http://127.0.0.1:${port}`;
      const api = await startApiServer({
        tls: pki.issue('apiserver'),
        caPem: pki.caPem,
        oidc: { issuerUrl: portal, clientId: 'kubernetes', usernameClaim: 'preferred_username', usernamePrefix: PREFIX, groupsClaim: 'groups', groupsPrefix: PREFIX, allowInsecureIssuer: true },
      });
      // The service account's password from a file, as a secret mount would give it.
      const passwordFile = path.join(root, 'ldap-bind-password');
      fs.writeFileSync(passwordFile, SERVICE_PASSWORD + '\n', { mode: 0o600 });
      const kubegate = await startKubegate({
        dir: path.join(root, 'kubegate'),
        port,
        config: {
          // Short id_tokens, so kubectl refreshes (and the re-check runs) within the test.
          issuer: { url: portal, id_token_lifetime: 10 },
          upstreams: [
            {
              id: 'corp-ldap',
              type: 'ldap',
              display_name: LABEL,
              url: slapd.url,
              bind_dn: SERVICE_DN,
              bind_password_file: passwordFile,
              connect_timeout: '2s',
              timeout: '3s',
              user_search: { base_dn: PEOPLE_DN, filter: '(&(objectClass=inetOrgPerson)(uid={username}))' },
              group_search: { base_dn: GROUPS_DN, filter: '(objectClass=groupOfNames)', nested: true },
              recheck_interval: '30s',
            },
          ],
          clusters: [
            // Only a nested group (developers ⊂ platform) opens this cluster.
            { name: 'prod', display_name: 'Production', server: api.url, certificate_authority: { data: pki.caPem }, client_id: 'kubernetes', allowed_groups: ['platform'] },
          ],
        },
      });
      await use({ portal, kubegate, slapd, api });
      await Promise.allSettled([kubegate.close(), api.close(), slapd.stop()]);
      fs.rmSync(root, { recursive: true, force: true });
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  ...worldFixtures,
});

test.afterEach(async ({ world }, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    fs.writeFileSync(testInfo.outputPath('kubegate.log'), world.kubegate.output());
    fs.writeFileSync(testInfo.outputPath('slapd.log'), world.slapd.log());
  }
});

test.describe('LDAP sign-in', () => {
  test('alice signs in with the LDAP form; kubectl whoami shows her username and nested groups', async ({ page, world, login, home, clusterPage, kube }) => {
    await login.open();
    await login.signInWithPassword(LABEL, 'alice', USERS.alice.password);
    await expect(page).toHaveURL(`${world.portal}/`);
    await expect(home.username()).toHaveText('alice');
    await expect(home.clusterCard('prod')).toBeVisible();

    await clusterPage.openWithCredentials('prod');
    const setup = await shell('bash', await clusterPage.copyScript('bash'), kube);
    expect(setup.code, setup.stderr).toBe(0);
    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    expect(me.username).toBe(`${PREFIX}alice`);
    expect(me.groups).toEqual(
      expect.arrayContaining(['developers', 'platform', 'cycle-a', 'cycle-b', INJECTION_GROUP, 'auditors'].map((g) => PREFIX + g).concat('system:authenticated')),
    );
    expect(me.groups).not.toContain(`${PREFIX}unrelated`);
    // Nothing of the service account's or alice's password reached Kubegate's output.
    expect(world.kubegate.output()).not.toContain(SERVICE_PASSWORD);
    expect(world.kubegate.output()).not.toContain(USERS.alice.password);
  });

  test('a wrong password is told clearly, and signs nobody in', async ({ page, world, login }) => {
    await login.open();
    await login.signInWithPassword(LABEL, 'alice', 'not her password');
    await expect(login.alert()).toHaveText('Wrong username or password.');
    await expect(page).toHaveURL(/\/login\?/);
    await page.goto(`${world.portal}/`);
    await expect(page).toHaveURL(/\/login/);
  });

  test('an injection attempt with alice’s password is just a wrong username', async ({ login }) => {
    await login.open();
    await login.signInWithPassword(LABEL, '*)(uid=*', USERS.alice.password);
    await expect(login.alert()).toHaveText('Wrong username or password.');
  });

  test('a disabled account (userAccountControl) is told it is disabled', async ({ login }) => {
    await login.open();
    await login.signInWithPassword(LABEL, 'bob', USERS.bob.password);
    await expect(login.alert()).toContainText('disabled');
  });

  // Last: it changes the directory.
  test('a group removed in the directory is gone from kubectl’s identity after the next re-check', async ({ page, world, login, clusterPage, kube }) => {
    test.setTimeout(120_000);
    await login.open();
    await login.signInWithPassword(LABEL, 'alice', USERS.alice.password);
    await expect(page).toHaveURL(`${world.portal}/`);
    await clusterPage.openWithCredentials('prod');
    const setup = await shell('bash', await clusterPage.copyScript('bash'), kube);
    expect(setup.code, setup.stderr).toBe(0);
    expect((await whoami(kube)).groups).toEqual(expect.arrayContaining([`${PREFIX}auditors`, `${PREFIX}${INJECTION_GROUP}`]));

    const admin = await world.slapd.admin();
    try {
      // groupOfNames needs a member: bob takes alice's place.
      await admin.modify(groupDn(INJECTION_GROUP), [
        new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [userDn('bob')] }) }),
        new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [userDn('alice')] }) }),
      ]);
    } finally {
      await admin.unbind();
    }
    // kubectl refreshes each time its 10 s id_token expires; the refresh after recheck_interval (30 s)
    // asks the directory again, and the next id_token no longer carries the group (nor auditors, through it).
    await expect
      .poll(async () => (await whoami(kube)).groups, { timeout: 75_000, intervals: [5_000] })
      .not.toContain(`${PREFIX}${INJECTION_GROUP}`);
    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    expect(me.groups).not.toContain(`${PREFIX}auditors`);
    expect(me.groups).toContain(`${PREFIX}platform`);
  });
});
