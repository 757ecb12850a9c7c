/**
 * Terminal login through `kubectl oidc-login` (int128/kubelogin), end to end:
 * the exec-plugin kubeconfig from the cluster page, real kubectl running the
 * kubelogin stand-in (e2e/support/kubelogin) as its exec plugin, chromium
 * (signed in to the portal) completing the authorization request it opens or
 * approving its device code on /device, and the API-server stand-in
 * accepting the id_token Kubegate issued.
 *
 * The stand-in's "browser" ($BROWSER) writes the URL into a file; the test
 * reads it and drives chromium there, as a person's browser would open it.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import yaml from 'js-yaml';
import { expect, test } from './fixtures';
import { loginEnv, nextOpenedUrl, openedUrls, start, stopAll, waitForStderr, type LoginEnv } from './support/kubelogin/harness';
import { PREFIX } from './support/topology';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const whoamiArgs = ['auth', 'whoami', '-o', 'json'];

function username(stdout: string): string | undefined {
  return (JSON.parse(stdout) as { status?: { userInfo?: { username?: string } } }).status?.userInfo?.username;
}

/** The id_token the stand-in cached (kubelogin's cache: one file per issuer/client/scopes). */
function cachedIdToken(env: LoginEnv): string {
  const dir = path.join(env.home, '.kube/cache/oidc-login');
  const files = fs.readdirSync(dir);
  expect(files).toHaveLength(1);
  return (JSON.parse(fs.readFileSync(path.join(dir, files[0]!), 'utf8')) as { id_token: string }).id_token;
}

test.afterEach(stopAll);

/** Credential families in Kubegate's database: each minted credential starts one. */
function familyCount(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM families').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test.describe('kubectl oidc-login against Kubegate', () => {
  test('browser flow: the downloaded exec kubeconfig, a loopback redirect completed by the signed-in browser, the cache, then a refresh', async ({
    page,
    signIn,
    topo,
  }, testInfo) => {
    test.setTimeout(120_000);
    await signIn('alice');
    await page.goto(`${topo.portal}/clusters/prod`);
    await expect(page.getByTestId('krew-install')).toContainText('kubectl krew install oidc-login');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-oidc-login-browser').click()]);
    expect(download.suggestedFilename()).toBe('kubeconfig-prod-oidc-login.yaml');

    const env = loginEnv(testInfo.outputPath('kube'));
    await download.saveAs(env.kubeconfig);
    const file = fs.readFileSync(env.kubeconfig, 'utf8');
    // No token in the file: whoever logs in through it gets their own.
    expect(file).not.toMatch(/id-token|refresh-token|eyJ/);
    const exec = (yaml.load(file) as { users: { user: { exec: { args: string[]; interactiveMode: string; apiVersion: string } } }[] }).users[0]!.user.exec;
    expect(exec.apiVersion).toBe('client.authentication.k8s.io/v1');
    expect(exec.interactiveMode).toBe('IfAvailable');
    expect(exec.args).toEqual([
      'oidc-login',
      'get-token',
      `--oidc-issuer-url=${topo.portal}`,
      '--oidc-client-id=kubernetes',
      `--certificate-authority-data=${Buffer.from(topo.pki.caPem).toString('base64')}`,
    ]);

    // First kubectl run: the plugin opens the authorization URL; chromium, signed in, completes it.
    const first = start('kubectl', whoamiArgs, env);
    const authorize = new URL(await nextOpenedUrl(env, 0));
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${topo.portal}/oidc/authorize`);
    expect(authorize.searchParams.get('redirect_uri')).toMatch(/^http:\/\/localhost:(8000|18000)$/);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    await page.goto(authorize.href);
    await expect(page.locator('body')).toContainText('Authenticated');
    const firstResult = await first.done;
    expect(firstResult.code, firstResult.stderr).toBe(0);
    expect(username(firstResult.stdout)).toBe(`${PREFIX}alice`);

    // Second run: answered from the token cache, no browser.
    const idToken = cachedIdToken(env);
    const second = await start('kubectl', whoamiArgs, env).done;
    expect(second.code, second.stderr).toBe(0);
    expect(openedUrls(env)).toHaveLength(1);
    expect(cachedIdToken(env)).toBe(idToken);

    // After the id_token's exp (zero leeway) the plugin refreshes: a new id_token, still no browser.
    await sleep(decodeJwt(idToken).exp! * 1000 - Date.now() + 500);
    const third = await start('kubectl', whoamiArgs, env).done;
    expect(third.code, third.stderr).toBe(0);
    expect(username(third.stdout)).toBe(`${PREFIX}alice`);
    expect(openedUrls(env)).toHaveLength(1);
    expect(cachedIdToken(env)).not.toBe(idToken);
    expect(topo.apiProd.requests.filter((r) => r.user === `${PREFIX}alice`).length).toBeGreaterThanOrEqual(3);
  });

  test('device flow: commands pasted into bash, the code approved on /device in chromium', async ({ page, signIn, topo }, testInfo) => {
    test.setTimeout(120_000);
    await signIn('alice');
    await page.goto(`${topo.portal}/clusters/prod`);
    const device = page.getByTestId('oidc-login-device-code');
    await device.getByText('On a machine without a browser (device code)').click();
    const panel = device.locator('[role=tabpanel][data-login-shell=bash]');
    await panel.getByRole('button', { name: 'Copy all' }).click();
    await expect(panel.getByRole('button', { name: 'Copied' })).toBeVisible();
    const script = await page.evaluate(() => navigator.clipboard.readText());
    expect(script).toContain('--exec-arg=--grant-type=device-code');

    // A jump host: no browser to open.
    const env = loginEnv(testInfo.outputPath('kube'), { browser: false });
    const setup = await start('bash', ['-c', script], env).done;
    expect(setup.code, setup.stderr).toBe(0);

    const run = start('kubectl', whoamiArgs, env);
    const [, verification] = await waitForStderr(run, /Please visit the following URL in your browser: (\S+)/);
    const [, userCode] = await waitForStderr(run, /enter the code: (\S+)/);
    expect(verification).toBe(`${topo.portal}/device`);

    await page.goto(verification!);
    await page.getByLabel('Code').fill(userCode!);
    await page.getByLabel('Code').press('Enter');
    await expect(page.getByTestId('device-cluster')).toContainText('prod');
    await page.getByRole('button', { name: 'Approve' }).click();
    await expect(page.getByTestId('device-result')).toContainText('Approved');

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(username(result.stdout)).toBe(`${PREFIX}alice`);
    expect(openedUrls(env)).toHaveLength(0);
  });

  test('a person the cluster is not open to cannot approve a device code for it', async ({ page, signIn, topo }, testInfo) => {
    test.setTimeout(90_000);
    const env = loginEnv(testInfo.outputPath('kube'), { browser: false });
    // The kubeconfig needs no portal session: it holds no token, so alice's download serves bob's terminal too.
    await signIn('alice');
    await page.goto(`${topo.portal}/clusters/prod`);
    await page.getByText('On a machine without a browser (device code)').click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-oidc-login-device-code').click()]);
    expect(download.suggestedFilename()).toBe('kubeconfig-prod-oidc-login-device.yaml');
    await download.saveAs(env.kubeconfig);
    await page.context().clearCookies();

    const run = start('kubectl', whoamiArgs, env);
    const [, verification] = await waitForStderr(run, /Please visit the following URL in your browser: (\S+)/);
    const [, userCode] = await waitForStderr(run, /enter the code: (\S+)/);
    await signIn('bob');
    await page.goto(`${verification}?user_code=${encodeURIComponent(userCode!)}`);
    await expect(page.getByRole('button', { name: 'Approve' })).toHaveCount(0);
    await expect(page.getByText('Your groups do not give you access to that cluster.')).toBeVisible();
    run.child.kill('SIGTERM');
  });

  test('the exec download mints nothing; an unknown login value is refused by name', async ({ page, signIn, topo }) => {
    await signIn('alice');
    await page.goto(`${topo.portal}/clusters/prod`);
    const before = familyCount(topo.kubegate.dbPath);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-oidc-login-browser').click()]);
    expect(await download.failure()).toBeNull();
    expect(familyCount(topo.kubegate.dbPath)).toBe(before);

    const csrf = await page.locator('input[name=csrf]').first().getAttribute('value');
    const res = await page.request.post(`${topo.portal}/clusters/prod/kubeconfig`, {
      form: { csrf: csrf!, login: 'password' },
      headers: { origin: topo.portal },
    });
    expect(res.status()).toBe(400);
    expect(await res.text()).toContain('login must be one of browser, device-code');
    expect(familyCount(topo.kubegate.dbPath)).toBe(before);
  });
});
