import fs from 'node:fs';
import Database from 'better-sqlite3';
import { expect, test } from './fixtures';
import { authProviderConfig, kubectl, kubectlPersistsRefresh, shell, whoami } from './support/kubectl';
import { ID_TOKEN_LIFETIME, PREFIX, REUSE_GRACE, STAGE_SECRET, USERS } from './support/topology';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface AuditRow {
  kind: string;
  username: string | null;
  cluster: string | null;
  details: string;
}

/** Reads Kubegate's audit trail straight from its database, as an auditor would. */
function auditEvents(dbPath: string): AuditRow[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT kind, username, cluster, details FROM audit_events ORDER BY id').all() as AuditRow[];
  } finally {
    db.close();
  }
}

/** Seconds until the id_token in `kubeconfig` is within kubectl's refresh window. */
function idTokenExp(kubeconfig: string, user?: string): number {
  const token = authProviderConfig(kubeconfig, user)['id-token']!;
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
}

/** Waits until the kubeconfig's id_token has expired, so kubectl must refresh. */
async function waitForExpiry(kubeconfig: string, user?: string): Promise<void> {
  const ms = idTokenExp(kubeconfig, user) * 1000 - Date.now() + 1000;
  if (ms > 0) await sleep(ms);
}

test.describe('kubectl with credentials from the portal', () => {
  test('bash commands copied from the page configure real kubectl; whoami shows the user and groups', async ({ signIn, clusterPage, kube, topo }) => {
    await signIn('alice');
    await clusterPage.openWithCredentials('prod');
    const script = await clusterPage.copyScript('bash');
    expect(script).toContain('kubectl config set-credentials alice@prod');
    const setup = await shell('bash', script, kube);
    expect(setup.code, setup.stderr).toBe(0);

    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    expect(me.username).toBe(`${PREFIX}alice`);
    expect(me.groups).toEqual(expect.arrayContaining([`${PREFIX}developers`, `${PREFIX}platform`, 'system:authenticated']));
    const ctx = await kubectl(kube, ['config', 'view', '--minify', '-o', 'jsonpath={.contexts[0].context.namespace}']);
    expect(ctx.stdout).toBe('team-a');
    // The API server saw the id_token: authenticated requests, no rejection.
    expect(topo.apiProd.requests.filter((r) => r.user === `${PREFIX}alice`).length).toBeGreaterThan(0);
  });

  test('a second cluster is added beside the first, never over it', async ({ signIn, clusterPage, kube }) => {
    await signIn('alice');
    for (const name of ['prod', 'stage']) {
      await clusterPage.openWithCredentials(name);
      const r = await shell('bash', await clusterPage.copyScript('bash'), kube);
      expect(r.code, r.stderr).toBe(0);
    }
    const contexts = await kubectl(kube, ['config', 'get-contexts', '-o', 'name']);
    expect(contexts.stdout.split('\n').filter(Boolean).sort()).toEqual(['alice@prod', 'alice@stage']);
    // stage has a client secret with URL-special characters: refresh with Basic auth must still work.
    expect(authProviderConfig(kube.kubeconfig, 'alice@stage')['client-secret']).toBe(STAGE_SECRET);
    for (const ctx of ['alice@prod', 'alice@stage']) {
      const me = await whoami(kube, ['--context', ctx]);
      expect(me.ok, me.result.stderr).toBe(true);
      expect(me.username).toBe(`${PREFIX}alice`);
    }
  });

  test('fish commands run in a real fish shell', async ({ signIn, clusterPage, kube }) => {
    await signIn('alice');
    await clusterPage.openWithCredentials('prod');
    const r = await shell('fish', await clusterPage.copyScript('fish'), kube);
    expect(r.code, r.stderr).toBe(0);
    const me = await whoami(kube);
    expect(me.username).toBe(`${PREFIX}alice`);
  });

  test('the bash/zsh commands run in a real zsh', async ({ signIn, clusterPage, kube }) => {
    await signIn('alice');
    await clusterPage.openWithCredentials('stage');
    const r = await shell('zsh', await clusterPage.copyScript('bash'), kube);
    expect(r.code, r.stderr).toBe(0);
    expect(authProviderConfig(kube.kubeconfig)['client-secret']).toBe(STAGE_SECRET);
    const me = await whoami(kube);
    expect(me.username).toBe(`${PREFIX}alice`);
  });

  test('a hostile username and groups reach the API server verbatim and break out of no shell', async ({ page, topo, clusterPage, kube }) => {
    test.setTimeout(180_000); // three credentials, three shells, on a shared 2-core machine
    const marker = '/tmp/kubegate-pwned';
    fs.rmSync(marker, { force: true });
    const { signInThroughUpstream } = await import('./fixtures');
    await signInThroughUpstream(page, topo.portal, 'eve');
    for (const sh of ['bash', 'zsh', 'fish'] as const) {
      // A fresh credential per shell: pasting one credential again after kubectl (or the Cloud SDK
      // dispatcher's version check) has refreshed it re-installs a spent refresh token, which
      // reuse detection rightly answers by revoking the family.
      await clusterPage.openWithCredentials('prod');
      const r = await shell(sh, await clusterPage.copyScript(sh === 'zsh' ? 'bash' : sh), kube);
      expect(r.code, r.stderr).toBe(0);
    }
    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    expect(me.username).toBe(PREFIX + USERS.eve.username);
    expect(me.groups).toEqual(expect.arrayContaining(USERS.eve.groups.map((g) => PREFIX + g)));
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('the downloaded kubeconfig works on its own', async ({ signIn, clusterPage, kube }, testInfo) => {
    await signIn('alice');
    await clusterPage.open('prod');
    const download = await clusterPage.download();
    expect(download.suggestedFilename()).toBe('kubeconfig-prod.yaml');
    const file = testInfo.outputPath('kubeconfig-prod.yaml');
    await download.saveAs(file);
    const me = await whoami({ ...kube, kubeconfig: file });
    expect(me.ok, me.result.stderr).toBe(true);
    expect(me.username).toBe(`${PREFIX}alice`);
    const cfg = authProviderConfig(file);
    expect(cfg['idp-issuer-url']).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cfg['idp-certificate-authority-data']).toBeTruthy();
  });

  test('the merge recipe copied from the page adds a downloaded kubeconfig beside another context and switches to it', async ({ page, signIn, clusterPage, kube, topo }) => {
    await signIn('alice');
    // Already configured for stage: that is the current context before the merge.
    await clusterPage.openWithCredentials('stage');
    expect((await shell('bash', await clusterPage.copyScript('bash'), kube)).code).toBe(0);
    expect((await kubectl(kube, ['config', 'current-context'])).stdout.trim()).toBe('alice@stage');

    await clusterPage.open('prod');
    const download = await clusterPage.download();
    fs.mkdirSync(`${kube.home}/Downloads`, { recursive: true });
    await download.saveAs(`${kube.home}/Downloads/${download.suggestedFilename()}`);
    await page.getByText('Merge it into your existing ~/.kube/config').click();
    const recipe = await clusterPage.copyBlock('merge-recipe-bash');
    const merged = await shell('bash', recipe, kube);
    expect(merged.code, merged.stderr).toBe(0);

    // Step 2 on the page, as pasted: it checks the new cluster.
    expect((await kubectl(kube, ['config', 'current-context'])).stdout.trim()).toBe('alice@prod');
    const before = topo.apiProd.requests.length;
    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    expect(topo.apiProd.requests.length).toBeGreaterThan(before);
    expect((await kubectl(kube, ['config', 'get-contexts', '-o', 'name'])).stdout.split('\n').filter(Boolean).sort()).toEqual(['alice@prod', 'alice@stage']);
    expect(fs.statSync(kube.kubeconfig).mode & 0o777).toBe(0o600);
  });

  test('kubectl refreshes by itself when the id_token expires and writes the rotated tokens back', async ({ signIn, clusterPage, kube, topo }) => {
    const refresh = kubectlPersistsRefresh();
    test.skip(!refresh.ok, refresh.why);
    await signIn('alice');
    await clusterPage.openWithCredentials('prod');
    expect((await shell('bash', await clusterPage.copyScript('bash'), kube)).code).toBe(0);
    const before = authProviderConfig(kube.kubeconfig);
    await waitForExpiry(kube.kubeconfig);

    const me = await whoami(kube);
    expect(me.ok, me.result.stderr).toBe(true);
    const after = authProviderConfig(kube.kubeconfig);
    expect(after['refresh-token']).not.toBe(before['refresh-token']);
    expect(after['id-token']).not.toBe(before['id-token']);
    expect(idTokenExp(kube.kubeconfig)).toBeGreaterThan(Date.now() / 1000);

    // And again: the rotated refresh token is itself good for the next refresh.
    await waitForExpiry(kube.kubeconfig);
    const again = await whoami(kube);
    expect(again.ok, again.result.stderr).toBe(true);
    expect(authProviderConfig(kube.kubeconfig)['refresh-token']).not.toBe(after['refresh-token']);
    expect(topo.apiProd.requests.some((r) => r.status === 401 && r.reason?.includes('expired'))).toBe(false);
  });

  test('two kubectl processes racing on one set of credentials both succeed; a replay after the grace window revokes the family', async ({ signIn, clusterPage, kube, topo }) => {
    const refresh = kubectlPersistsRefresh();
    test.skip(!refresh.ok, refresh.why);
    await signIn('alice');
    await clusterPage.openWithCredentials('prod');
    expect((await shell('bash', await clusterPage.copyScript('bash'), kube)).code).toBe(0);
    const spent = authProviderConfig(kube.kubeconfig)['refresh-token']!;
    // A second tool holding the same credentials (k9s, Lens, another terminal).
    // Each process gets its own copy of the file: kubectl rewrites a kubeconfig
    // in place (truncate, then write), so a second kubectl reading the very same
    // file at that instant sees it empty; that race is kubectl's own, not the
    // token endpoint's, which is what this test is about.
    const twin = { ...kube, kubeconfig: kube.kubeconfig + '.twin' };
    fs.copyFileSync(kube.kubeconfig, twin.kubeconfig);
    await waitForExpiry(kube.kubeconfig);

    // Both present the same refresh token at once: one rotates, the other is inside the grace window.
    const [a, b] = await Promise.all([whoami(kube), whoami(twin)]);
    expect(a.ok, a.result.stderr).toBe(true);
    expect(b.ok, b.result.stderr).toBe(true);
    const successor = authProviderConfig(kube.kubeconfig)['refresh-token']!;
    expect(successor).not.toBe(spent);
    // The grace replay hands out the same successor: the two tools stay one family.
    expect(authProviderConfig(twin.kubeconfig)['refresh-token']).toBe(successor);

    // Someone replays the spent token after the grace window: refused, and the whole family dies.
    await sleep((REUSE_GRACE + 1) * 1000);
    const replay = await fetch(`${topo.kubegate.url}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('kubernetes:').toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: spent }),
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');

    // kubectl's own, newer token is dead too: once its id_token expires, it gets no new one.
    await waitForExpiry(kube.kubeconfig);
    const denied = await whoami(kube);
    expect(denied.ok).toBe(false);
    expect(denied.result.stderr).toMatch(/invalid_grant|Unauthorized|must be logged in/i);

    // All of it is in the audit trail, and no token is.
    const events = auditEvents(topo.kubegate.dbPath);
    const mine = events.filter((e) => e.username === 'alice' && e.cluster === 'prod');
    for (const kind of ['token.issued', 'token.refreshed', 'token.refresh_replayed', 'token.reuse_detected']) expect(mine.map((e) => e.kind), kind).toContain(kind);
    expect(JSON.stringify(events)).not.toMatch(/kgr_[A-Za-z0-9_-]{43}|eyJ[A-Za-z0-9_-]+\.eyJ/);
  });

  test('sign-out revokes: the kubeconfig stops working within one id_token lifetime', async ({ signIn, clusterPage, home, kube }) => {
    await signIn('alice');
    await clusterPage.openWithCredentials('prod');
    expect((await shell('bash', await clusterPage.copyScript('bash'), kube)).code).toBe(0);
    expect((await whoami(kube)).ok).toBe(true);
    await home.open();
    const signedOutAt = Date.now();
    await home.signOut();
    await waitForExpiry(kube.kubeconfig);
    const denied = await whoami(kube);
    expect(denied.ok).toBe(false);
    expect(Date.now() - signedOutAt).toBeLessThan((ID_TOKEN_LIFETIME + 15) * 1000);
  });

  test('a token minted for one cluster is refused by another (audience binding)', async ({ signIn, clusterPage, kube, topo }) => {
    await signIn('alice');
    await clusterPage.openWithCredentials('prod');
    expect((await shell('bash', await clusterPage.copyScript('bash'), kube)).code).toBe(0);
    const idToken = authProviderConfig(kube.kubeconfig)['id-token']!;
    expect((await topo.apiProd.authenticate(idToken)).ok).toBe(true);
    const atStage = await topo.apiStage.authenticate(idToken);
    expect(atStage.ok).toBe(false);
  });
});

test('no token that passed through Kubegate in these tests appears in its logs', async ({ topo }) => {
  const out = topo.kubegate.output();
  expect(out.length).toBeGreaterThan(0);
  expect(out).not.toMatch(/kgr_[A-Za-z0-9_-]{43}/);
  expect(out).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\./);
});

test('sign-ins and sign-outs are audited; refresh tokens are stored only as hashes', async ({ topo, signIn, home }) => {
  await signIn('alice');
  await home.open();
  await home.signOut();
  const kinds = auditEvents(topo.kubegate.dbPath).map((e) => e.kind);
  expect(kinds).toContain('session.login');
  expect(kinds).toContain('session.logout');
  const db = new Database(topo.kubegate.dbPath, { readonly: true, fileMustExist: true });
  try {
    expect(JSON.stringify(db.prepare('SELECT * FROM refresh_tokens').all())).not.toContain('kgr_');
  } finally {
    db.close();
  }
});
