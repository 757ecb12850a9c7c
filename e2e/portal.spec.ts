import yaml from 'js-yaml';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { request, type Page } from '@playwright/test';
import { expect, signInThroughUpstream, test } from './fixtures';
import { mergeRecipe } from '../lib/kubeconfig/merge-recipes';

const TOKEN = /eyJ[A-Za-z0-9_-]{10,}\.|kgr_[A-Za-z0-9_-]{20,}/;

/** The credentials (families) minted from one login session, read from Kubegate's database as an auditor would. */
function familiesOf(dbPath: string, sessionId: string): { origin: string }[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT origin FROM families WHERE login_session_id = ? ORDER BY created_at').all(sessionId) as { origin: string }[];
  } finally {
    db.close();
  }
}

/** This browser's login session id, as the Sessions page's own revoke form carries it. */
async function currentSessionId(page: Page, portal: string): Promise<string> {
  await page.goto(`${portal}/sessions`);
  const id = await page.locator('[data-testid=session-row][data-current=true] input[name=session]').getAttribute('value');
  expect(id).toBeTruthy();
  return id!;
}

/** Where the README's screenshots live; the run writes them there only when asked (UPDATE_SCREENSHOTS=1). */
function screenshotPaths(testInfo: { outputPath(name: string): string }, name: string): string[] {
  const paths = [testInfo.outputPath(name)];
  if (process.env.UPDATE_SCREENSHOTS === '1') paths.push(path.resolve(import.meta.dirname, '..', 'docs', 'screenshots', name));
  return paths;
}

async function screenshot(page: Page, testInfo: { outputPath(name: string): string }, name: string, fullPage = true): Promise<void> {
  const [first, ...copies] = screenshotPaths(testInfo, name);
  await page.screenshot({ path: first!, fullPage });
  for (const copy of copies) fs.copyFileSync(first!, copy);
}

/** No horizontal scrolling, and every button inside the screen's width. */
async function expectFitsWidth(page: Page): Promise<void> {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  const width = page.viewportSize()!.width;
  for (const button of await page.getByRole('button').all()) {
    if (!(await button.isVisible())) continue;
    const box = (await button.boundingBox())!;
    expect(box.x, await button.textContent() ?? '').toBeGreaterThanOrEqual(0);
    expect(box.x + box.width, await button.textContent() ?? '').toBeLessThanOrEqual(width);
  }
}

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

  test('opening a cluster page hands out nothing; "Get credentials" hands out one, labelled, in a no-store POST response, never in a URL', async ({ page, signIn, clusterPage, topo }) => {
    await signIn('alice');
    const sid = await currentSessionId(page, topo.portal);
    const urls: string[] = [];
    page.on('request', (r) => urls.push(r.url()));

    // Two visits: nothing minted, and the page itself is not cacheable.
    for (let i = 0; i < 2; i++) {
      const res = await page.goto(`${topo.portal}/clusters/prod`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['cache-control']).toContain('no-store');
      await expect(clusterPage.getCredentialsButton()).toBeVisible();
      expect(await page.content()).not.toMatch(TOKEN);
    }
    expect(familiesOf(topo.kubegate.dbPath, sid)).toEqual([]);
    await page.goto(`${topo.portal}/sessions`);
    await expect(page.locator('[data-current=true] [data-testid=no-credentials]')).toBeVisible();

    // The explicit action: a POST to the page's own URL whose response carries the tokens, marked no-store.
    await clusterPage.open('prod');
    // Seen through a route, which keeps the response body (the browser may drop a streamed one).
    const action = { cacheControl: '', body: '' };
    await page.route(`${topo.portal}/clusters/prod`, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const response = await route.fetch();
      action.cacheControl = response.headers()['cache-control'] ?? '';
      action.body = await response.text();
      await route.fulfill({ response });
    });
    await clusterPage.getCredentials();
    await page.unroute(`${topo.portal}/clusters/prod`);
    expect(action.cacheControl).toContain('no-store');
    expect(action.body).toMatch(TOKEN);
    expect(familiesOf(topo.kubegate.dbPath, sid)).toEqual([{ origin: 'page' }]);

    // A download is a second credential, labelled as such.
    await clusterPage.download();
    expect(familiesOf(topo.kubegate.dbPath, sid)).toEqual([{ origin: 'page' }, { origin: 'download' }]);
    await page.goto(`${topo.portal}/sessions`);
    const mine = page.locator('[data-testid=session-row][data-current=true] [data-testid=credential-row]');
    await expect(mine.locator('[data-testid=credential-origin]')).toHaveText(['kubeconfig download', 'cluster page']);
    await expect(mine.locator('[data-testid=credential-refreshed]')).toHaveText(['never', 'never']);
    expect(urls.join('\n')).not.toMatch(TOKEN);
  });

  test('"Get credentials" refuses a request from another origin or without the page\'s token, and mints nothing', async ({ page, signIn, clusterPage, topo }) => {
    await signIn('alice');
    const sid = await currentSessionId(page, topo.portal);
    await clusterPage.open('prod');
    // Capture a genuine action request, to replay it from elsewhere.
    const [genuine] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && r.url() === `${topo.portal}/clusters/prod`),
      clusterPage.getCredentials(),
    ]);
    expect(familiesOf(topo.kubegate.dbPath, sid)).toHaveLength(1);

    const forged = await page.request.post(genuine.url(), {
      headers: { ...(await genuine.allHeaders()), origin: 'https://evil.example' },
      data: genuine.postDataBuffer() ?? undefined,
      maxRedirects: 0,
    });
    expect(await forged.text()).not.toMatch(TOKEN);
    expect(familiesOf(topo.kubegate.dbPath, sid)).toHaveLength(1);

    // Same origin, but the form's CSRF token is not this session's.
    await clusterPage.open('prod');
    await page.locator('form input[name=csrf]').first().evaluate((el) => ((el as HTMLInputElement).value = 'forged'));
    await clusterPage.getCredentialsButton().click();
    await expect(page.getByRole('alert').filter({ hasText: 'did not come from the Kubegate portal' })).toBeVisible();
    expect(familiesOf(topo.kubegate.dbPath, sid)).toHaveLength(1);
  });

  test('the commands: the whole script shows, tokens shortened on screen but copied whole, the trailing "-" explained, a copy button on every block', async ({ page, signIn, clusterPage, consoleErrors }) => {
    await signIn('alice');
    await clusterPage.openWithCredentials('prod');
    const shown = await clusterPage.shownScript('bash');
    const copied = await clusterPage.copyScript('bash');
    const idToken = /id-token=(\S+)/.exec(copied)![1]!;
    expect(idToken).toMatch(/^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(shown).not.toContain(idToken);
    expect(shown).toContain(`id-token=${idToken.slice(0, 10)}…${idToken.slice(-4)}`);
    expect(shown).toContain('kubectl config use-context alice@prod');
    // Nothing hidden below a scroll: the box is as tall as its content.
    const box = page.getByTestId('script-bash');
    expect(await box.evaluate((el) => el.scrollHeight - el.clientHeight)).toBeLessThanOrEqual(1);
    // The full values on request.
    await page.getByRole('button', { name: 'Show full tokens' }).click();
    expect(await clusterPage.shownScript('bash')).toBe(copied);

    await page.getByText(/^Step by step/).first().click();
    await expect(page.locator('[role=tabpanel][data-shell=bash] [data-testid=step-note]')).toContainText('a key ending in "-" is removed, not set');

    expect(await clusterPage.copyBlock('whoami')).toBe('kubectl auth whoami');
    await page.getByText('Merge it into your existing ~/.kube/config').click();
    for (const shell of ['bash', 'fish', 'powershell', 'cmd'] as const) {
      expect(await clusterPage.copyBlock(`merge-recipe-${shell}`)).toBe(mergeRecipe(shell, 'kubeconfig-prod.yaml').script);
    }
    // No CSP violation or hydration error along the way.
    expect(consoleErrors).toEqual([]);
  });

  test('"Get credentials" after the session has ended goes back to sign-in, saying why, and mints nothing', async ({ page, browser, signIn, clusterPage, topo }) => {
    await signIn('alice');
    const sid = await currentSessionId(page, topo.portal);
    await clusterPage.open('prod');
    // The same person ends this sign-in from another browser.
    const other = await browser.newContext({ ignoreHTTPSErrors: true });
    const otherPage = await other.newPage();
    await signInThroughUpstream(otherPage, topo.portal, 'alice');
    await otherPage.goto(`${topo.portal}/sessions`);
    await otherPage.locator(`[data-testid=session-row]:has(input[name=session][value="${sid}"])`).getByRole('button', { name: 'Revoke' }).click();
    await expect(otherPage.locator(`input[name=session][value="${sid}"]`)).toHaveCount(0);
    await other.close();

    await clusterPage.getCredentialsButton().click();
    await expect(page).toHaveURL(`${topo.portal}/login?error=session_ended`);
    await expect(page.locator('#login-error')).toHaveText('Your session has ended. Sign in again.');
    expect(familiesOf(topo.kubegate.dbPath, sid)).toEqual([]);
  });

  test('a failure on the server shows a styled error page with a reference, never Next\'s bare one', async ({ page, signIn, clusterPage, topo }) => {
    await signIn('alice');
    await clusterPage.open('prod');
    // Another process holds the database's write lock past Kubegate's bounded wait.
    const db = new Database(topo.kubegate.dbPath, { fileMustExist: true });
    try {
      db.exec('BEGIN EXCLUSIVE');
      await clusterPage.getCredentialsButton().click();
      await expect(page.getByTestId('error-page')).toBeVisible({ timeout: 30_000 });
      await expect(page.getByRole('heading', { name: 'Something went wrong' })).toBeVisible();
      await expect(page.getByTestId('error-reference')).toHaveText(/^Reference: \S+$/);
      await expect(page.locator('body')).not.toContainText('Application error');
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
    await page.getByRole('link', { name: 'Back to your clusters' }).click();
    await expect(page.getByTestId('username')).toHaveText('alice');
  });

  test('page titles carry branding.title', async ({ page, topo }) => {
    await signInThroughUpstream(page, topo.direct.url, 'alice');
    await expect(page).toHaveTitle('Your clusters · Acme Kubernetes');
    await page.goto(`${topo.direct.url}/clusters/prod`);
    await expect(page).toHaveTitle('Cluster access · Acme Kubernetes');
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
    await clusterPage.openWithCredentials('prod');
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
    test(`screenshots of home, cluster and sessions pages (${colorScheme}), and nothing overflows on a phone`, async ({ page, signIn, clusterPage }, testInfo) => {
      await page.emulateMedia({ colorScheme });
      await signIn('alice');
      await screenshot(page, testInfo, `home-${colorScheme}.png`);
      await clusterPage.openWithCredentials('prod');
      await screenshot(page, testInfo, `cluster-${colorScheme}.png`);
      await page.setViewportSize({ width: 390, height: 844 });
      await expectFitsWidth(page);
      await screenshot(page, testInfo, `cluster-${colorScheme}-phone.png`);
      await clusterPage.download();
      await page.goto(`${page.url().replace(/\/clusters\/prod$/, '')}/sessions`);
      await expectFitsWidth(page);
      // Every column is there on a phone too (the table used to hide "last refreshed"), and every action.
      const credential = page.locator('[data-current=true] [data-testid=credential-row]').first();
      for (const cell of ['credential-origin', 'credential-refreshed', 'credential-status']) await expect(credential.getByTestId(cell)).toBeVisible();
      await expect(credential.getByRole('button', { name: 'Revoke' })).toBeVisible();
      // One screenful: the list grows with every sign-in of the run.
      await screenshot(page, testInfo, `sessions-${colorScheme}-phone.png`, false);
    });
  }
});

test.describe('sessions', () => {
  test('lists your sign-ins; revoking another browser signs it out; a credential can be revoked alone', async ({ browser, page, signIn, topo, clusterPage }) => {
    await signIn('alice');
    const other = await browser.newContext({ ignoreHTTPSErrors: true });
    const otherPage = await other.newPage();
    await signInThroughUpstream(otherPage, topo.portal, 'alice');

    await clusterPage.openWithCredentials('prod');
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
    // And it says why that sign-in ended.
    await expect(page.getByTestId('ended-session-row').first().getByTestId('ended-because')).toHaveText('you revoked it');

    // This browser is still signed in; revoke the credential handed out above.
    await page.goto(`${topo.portal}/sessions`);
    const credential = rows.first().getByTestId('credential-row').first();
    await credential.getByRole('button', { name: 'Revoke' }).click();
    await expect(rows.first().getByTestId('credential-row').first().getByTestId('credential-status')).toContainText('you revoked it');
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
