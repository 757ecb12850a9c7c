/**
 * The admin console end to end, with its own small setup: one Kubegate with
 * local accounts, `root` in the admin group and `dan` not.
 *
 *   chromium (two browsers: root, dan) ─► Kubegate (http, own issuer URL)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { test as base, expect, type Browser, type Page } from '@playwright/test';
import { KubegateLoginPage } from './pages/portal';
import { freePort, startKubegate, type KubegateProcess } from './support/kubegate';

const LOCAL = 'Local account';
const ROOT = { username: 'root', password: 'root password 1' };
const DAN = { username: 'dan', password: 'dan password 1' };
/** The shortest re-authentication window the config allows, so a test can outwait it. */
const REAUTH_SECONDS = 60;

interface AdminWorld {
  portal: string;
  kubegate: KubegateProcess;
}

const test = base.extend<object, { world: AdminWorld }>({
  world: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
    async ({}, use) => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-e2e-admin-'));
      const port = await freePort();
      const portal = `http://127.0.0.1:${port}`;
      const kubegate = await startKubegate({
        dir: path.join(root, 'kubegate'),
        port,
        config: {
          issuer: { url: portal },
          admin: { groups: ['admins'], reauth_after: REAUTH_SECONDS },
          upstreams: [{ id: 'local', type: 'local', display_name: LOCAL }],
          users: [
            { username: ROOT.username, password_hash: bcrypt.hashSync(ROOT.password, 4), groups: ['admins'] },
            { username: DAN.username, password_hash: bcrypt.hashSync(DAN.password, 4), groups: ['dev'] },
          ],
          clusters: [{ name: 'dev', server: 'https://127.0.0.1:6443', client_id: 'kubernetes', allowed_groups: ['dev'] }],
        },
      });
      await use({ portal, kubegate });
      await kubegate.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
    { scope: 'worker', timeout: 60_000 },
  ],
});

test.afterEach(async ({ world }, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) fs.writeFileSync(testInfo.outputPath('kubegate.log'), world.kubegate.output());
});

/** A browser of its own for one person, signed in with the local account. */
async function signedIn(browser: Browser, world: AdminWorld, who: { username: string; password: string }): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  const login = new KubegateLoginPage(page, world.portal);
  await login.open();
  await login.signInWithPassword(LOCAL, who.username, who.password);
  await expect(page).toHaveURL(`${world.portal}/`);
  return page;
}

const ADMIN_URLS = ['/admin', '/admin?state=all', '/admin/audit', '/admin/clusters', '/admin/audit/export?format=csv', '/admin/audit/export?format=json'];

test.describe('admin console', () => {
  test('a non-admin gets 404 for every console URL and no Admin link; an admin revokes their sign-in, which signs them out, and exports it as CSV', async ({ browser, world }) => {
    // Signed out: console pages answer exactly like any portal page (to sign-in), the export like a missing path.
    const anonymous = await browser.newContext();
    const answer = async (url: string) => {
      const res = await anonymous.request.get(`${world.portal}${url}`, { maxRedirects: 0 });
      return [res.status(), res.headers()['location'] ?? null];
    };
    const portalPage = await answer('/sessions');
    expect(portalPage[0]).toBe(307);
    for (const url of ['/admin', '/admin/audit', '/admin/clusters']) expect(await answer(url), url).toEqual(portalPage);
    expect(await answer('/admin/audit/export?format=csv')).toEqual(await answer('/no-such-page'));
    await anonymous.close();

    const dan = await signedIn(browser, world, DAN);
    await expect(dan.getByRole('link', { name: 'Sessions' })).toBeVisible();
    await expect(dan.getByTestId('header-admin')).toHaveCount(0);
    for (const url of ADMIN_URLS) {
      const res = await dan.request.get(`${world.portal}${url}`, { maxRedirects: 0 });
      expect(res.status(), url).toBe(404);
      expect(await res.text(), url).not.toContain('Admin console');
    }
    const page404 = await dan.goto(`${world.portal}/admin`);
    expect(page404?.status()).toBe(404);

    const root = await signedIn(browser, world, ROOT);
    // The admin's header on a phone: four actions, nothing overflows.
    await root.setViewportSize({ width: 390, height: 844 });
    await root.getByTestId('header-admin').click();
    await expect(root).toHaveURL(`${world.portal}/admin`);
    const overflow = await root.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await root.setViewportSize({ width: 1280, height: 900 });

    const danRow = root.locator('[data-testid="admin-session-row"][data-username="dan"]');
    await expect(danRow).toHaveCount(1);
    // The filter finds dan's sign-in by group, and not by a group he is not in.
    await root.goto(`${world.portal}/admin?group=dev`);
    await expect(root.getByTestId('admin-session-row')).toHaveCount(1);
    await root.goto(`${world.portal}/admin?group=admins`);
    await expect(danRow).toHaveCount(0);
    await root.goto(`${world.portal}/admin?user=dan`);
    await danRow.getByTestId('admin-revoke-session').click();
    await expect(root.getByTestId('admin-notice')).toContainText('revoked');
    await expect(danRow).toHaveCount(0);

    // dan's next page: signed out.
    await dan.goto(`${world.portal}/sessions`);
    await expect(dan).toHaveURL(/\/login/);
    await expect(dan.getByRole('form', { name: `Sign in with ${LOCAL}` })).toBeVisible();

    // The audit trail shows the revocation with the admin's name, and exports it.
    await root.goto(`${world.portal}/admin/audit?kind=session.revoked`);
    const row = root.locator('[data-testid="audit-row"][data-kind="session.revoked"]');
    await expect(row).toHaveCount(1);
    await expect(row).toContainText('dan');
    await expect(row).toContainText('"by":"root"');
    const [download] = await Promise.all([root.waitForEvent('download'), root.getByTestId('audit-export-csv').click()]);
    expect(download.suggestedFilename()).toMatch(/^kubegate-audit-.*\.csv$/);
    const csv = fs.readFileSync((await download.path())!, 'utf8').split('\r\n');
    expect(csv[0]).toBe('id,at,kind,username,user_id,cluster,family_id,session_id,client_ip,request_id,details');
    const lines = csv.slice(1).filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/,session\.revoked,dan,/);
    expect(lines[0]).toContain('""by"":""root""');

    const json = await root.request.get(`${world.portal}/admin/audit/export?format=json&user=dan`);
    expect(json.headers()['content-disposition']).toMatch(/^attachment; filename="kubegate-audit-.*\.json"$/);
    expect(json.headers()['cache-control']).toBe('no-store');
    const kinds = ((await json.json()) as { events: { kind: string; username: string }[] }).events.map((e) => [e.kind, e.username]);
    expect(kinds).toContainEqual(['session.revoked', 'dan']);
    expect(kinds).toContainEqual(['session.login', 'dan']);

    // The exports are in the trail too, with who took them and what.
    await root.goto(`${world.portal}/admin/audit?kind=admin.audit_exported`);
    const exported = root.locator('[data-testid="audit-row"][data-kind="admin.audit_exported"]');
    await expect(exported).toHaveCount(2);
    await expect(exported.first()).toContainText('"format":"json"');
    await expect(exported.first()).toContainText('"by":"root"');
    await expect(exported.last()).toContainText('"filters":{"kind":"session.revoked"}');

    const bad = await root.request.get(`${world.portal}/admin/audit/export?format=xlsx&kind=nope`);
    expect(bad.status()).toBe(400);
    expect(await bad.text()).toBe('Not exported: format: must be one of csv, json; kind: is not an audit event kind\n');

    // The API server setup, read-only, per cluster.
    await root.goto(`${world.portal}/admin/clusters`);
    await expect(root.getByTestId('apiserver-section').first()).toContainText(`--oidc-issuer-url=${world.portal}`);
  });

  test('an admin whose sign-in is older than reauth_after signs in again before the console shows anything, and comes back to it', async ({ browser, world }) => {
    test.setTimeout(REAUTH_SECONDS * 1000 + 60_000);
    const root = await signedIn(browser, world, ROOT);
    await root.goto(`${world.portal}/admin/audit?kind=session.login`);
    await expect(root.getByTestId('audit-events')).toBeVisible();
    await root.waitForTimeout(REAUTH_SECONDS * 1000 + 1000);
    const res = await root.request.get(`${world.portal}/admin/audit/export?format=csv`, { maxRedirects: 0 });
    expect(res.status()).toBe(303);
    expect(res.headers()['location']).toBe('/login?prompt=login&next=%2Fadmin%2Faudit%3Fformat%3Dcsv');
    await root.goto(`${world.portal}/admin/audit?kind=session.login`);
    await expect(root).toHaveURL(/\/login\?prompt=login&next=%2Fadmin%2Faudit%3Fkind%3Dsession\.login/);
    await new KubegateLoginPage(root, world.portal).signInWithPassword(LOCAL, ROOT.username, ROOT.password);
    await expect(root).toHaveURL(`${world.portal}/admin/audit?kind=session.login`);
    await expect(root.getByTestId('audit-row').first()).toBeVisible();
  });
});
