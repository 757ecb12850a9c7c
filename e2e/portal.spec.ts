import yaml from 'js-yaml';
import fs from 'node:fs';
import { request } from '@playwright/test';
import { expect, signInThroughUpstream, test } from './fixtures';

test.describe('the portal', () => {
  test('a user whose groups allow no cluster sees a helpful empty state; a cluster not for them is 404', async ({ page, topo }) => {
    await signInThroughUpstream(page, topo.portal, 'bob');
    await expect(page.getByTestId('empty-state')).toContainText('No clusters are open to your groups yet');
    await expect(page.getByTestId('empty-state')).toContainText('interns');
    const res = await page.goto(`${topo.portal}/clusters/prod`);
    expect(res?.status()).toBe(404);
    await expect(page.locator('body')).not.toContainText('allowed_groups: [developers]');
    // Unknown and forbidden look the same.
    const unknown = await page.goto(`${topo.portal}/clusters/does-not-exist`);
    expect(unknown?.status()).toBe(404);
  });

  test('cluster pages are never cached and tokens never appear in a URL', async ({ page, signIn, topo }) => {
    await signIn('alice');
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));
    const res = await page.goto(`${topo.portal}/clusters/prod`);
    expect(res?.headers()['cache-control']).toContain('no-store');
    expect(urls.join('\n')).not.toMatch(/eyJ|kgr_/);
  });

  test('kubeconfig for all clusters: one context per cluster the user may use', async ({ signIn, home }, testInfo) => {
    await signIn('alice');
    const download = await home.downloadAll();
    const file = testInfo.outputPath(download.suggestedFilename());
    await download.saveAs(file);
    const doc = yaml.load(fs.readFileSync(file, 'utf8')) as { contexts: { name: string; context: { namespace: string } }[] };
    expect(doc.contexts.map((c) => c.name).sort()).toEqual(['alice@prod', 'alice@stage']);
  });

  test('downloads refuse requests without the CSRF token or from another origin', async ({ page, signIn, topo }) => {
    await signIn('alice');
    const noToken = await page.request.post(`${topo.portal}/clusters/prod/kubeconfig`, { form: {}, headers: { origin: topo.portal } });
    expect(noToken.status()).toBe(403);
    const foreign = await page.request.post(`${topo.portal}/kubeconfig`, { form: { csrf: 'x' }, headers: { origin: 'https://evil.example' } });
    expect(foreign.status()).toBe(403);
    expect(await foreign.text()).not.toMatch(/eyJ|kgr_/);
    // Without a session at all: back to the sign-in page, nothing minted.
    const anonymous = await request.newContext({ ignoreHTTPSErrors: true });
    const res = await anonymous.post(`${topo.portal}/clusters/prod/kubeconfig`, { form: { csrf: 'x' }, headers: { origin: topo.portal }, maxRedirects: 0 });
    expect(res.status()).toBe(303);
    expect(res.headers()['location']).toBe('/login?error=session_ended');
    await anonymous.dispose();
  });

  test('the shell tabs work from the keyboard', async ({ page, signIn, clusterPage }) => {
    await signIn('alice');
    await clusterPage.open('prod');
    await page.locator('[role=tab][data-shell=bash]').focus();
    await page.keyboard.press('ArrowRight');
    await expect(page.locator('[role=tab][data-shell=fish]')).toBeFocused();
    await expect(page.locator('[role=tab][data-shell=fish]')).toHaveAttribute('aria-selected', 'true');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await expect(page.locator('[role=tabpanel][data-shell=cmd]')).toBeVisible();
    expect(await clusterPage.shownScript('powershell')).toContain("kubectl 'config' 'set-credentials'");
  });

  for (const colorScheme of ['light', 'dark'] as const) {
    test(`screenshots of home and cluster pages (${colorScheme})`, async ({ page, signIn, clusterPage, topo }, testInfo) => {
      await page.emulateMedia({ colorScheme });
      await signIn('alice');
      await page.screenshot({ path: testInfo.outputPath(`home-${colorScheme}.png`), fullPage: true });
      await clusterPage.open('prod');
      await page.screenshot({ path: testInfo.outputPath(`cluster-${colorScheme}.png`), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: testInfo.outputPath(`cluster-${colorScheme}-phone.png`), fullPage: true });
      // No horizontal scrolling on a phone.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      expect(topo.portal).toMatch(/^https:/);
    });
  }
});

test.describe('sessions', () => {
  test('lists your sign-ins; revoking another browser signs it out; a credential can be revoked alone', async ({ browser, page, signIn, topo, clusterPage }) => {
    await signIn('alice');
    const other = await browser.newContext({ ignoreHTTPSErrors: true });
    const otherPage = await other.newPage();
    await signInThroughUpstream(otherPage, topo.portal, 'alice');

    await clusterPage.open('prod');
    await page.goto(`${topo.portal}/sessions`);
    const rows = page.getByTestId('session-row');
    expect(await rows.count()).toBeGreaterThanOrEqual(2);
    await expect(rows.first()).toHaveAttribute('data-current', 'true');
    await expect(rows.first().getByTestId('credential-row')).toContainText(['prod']);

    // The newest other sign-in is the second browser's.
    await rows.nth(1).getByRole('button', { name: 'Revoke' }).click();
    await otherPage.goto(`${topo.portal}/`);
    await expect(otherPage).toHaveURL(`${topo.portal}/login?error=session_ended`);
    await other.close();

    // This browser is still signed in; revoke the credential handed out above.
    await page.goto(`${topo.portal}/sessions`);
    const credential = rows.first().getByTestId('credential-row').first();
    await credential.getByRole('button', { name: 'Revoke' }).click();
    await expect(rows.first().getByTestId('credential-row').first()).toContainText('revoked');
    await expect(page.getByTestId('header-username')).toHaveText('alice');
  });

  test('you cannot revoke someone else\'s session', async ({ page, browser, topo, signIn }) => {
    await signIn('bob');
    const alice = await browser.newContext({ ignoreHTTPSErrors: true });
    const alicePage = await alice.newPage();
    await signInThroughUpstream(alicePage, topo.portal, 'alice');
    await alicePage.goto(`${topo.portal}/sessions`);
    const aliceSessionId = await alicePage.getByTestId('session-row').first().locator('input[name=session]').getAttribute('value');
    expect(aliceSessionId).toBeTruthy();

    // Bob submits alice's session id to his own revoke form.
    await page.goto(`${topo.portal}/sessions`);
    await page.getByTestId('session-row').first().locator('input[name=session]').evaluate((el, id) => ((el as HTMLInputElement).value = id!), aliceSessionId);
    await page.getByTestId('session-row').first().getByRole('button').click();
    await alicePage.goto(`${topo.portal}/`);
    await expect(alicePage.getByTestId('username')).toHaveText('alice');
    await alice.close();
  });
});
