import fs from 'node:fs';
import { test as base, expect, type Page } from '@playwright/test';
import { KubegateLoginPage, ClusterPage, HomePage } from './pages/portal';
import { UpstreamLoginPage } from './pages/upstream-login';
import { watchConsoleErrors } from './support/console-errors';
import { kubectlEnv, type KubectlEnv } from './support/kubectl';
import { startTopology, USERS, type Topology } from './support/topology';

type Person = keyof typeof USERS;

interface TestFixtures {
  /** Signs `who` in to the portal at `base` (default: the https portal) through the upstream IdP. */
  signIn: (who: Person, base?: string) => Promise<void>;
  home: HomePage;
  clusterPage: ClusterPage;
  /** A fresh HOME + empty KUBECONFIG for this test's kubectl runs. */
  kube: KubectlEnv;
  /** Console errors (CSP violations show up here). */
  consoleErrors: string[];
  /** On failure, attaches what the servers printed. */
  serverLogs: void;
}

export const test = base.extend<TestFixtures, { topo: Topology }>({
  topo: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
    async ({}, use) => {
      const topo = await startTopology();
      await use(topo);
      await topo.close();
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  context: async ({ context, topo }, use) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: topo.portal });
    await use(context);
  },
  serverLogs: [
    async ({ topo }, use, testInfo) => {
      const start = { tls: topo.kubegate.output().length, direct: topo.direct.output().length };
      await use();
      if (testInfo.status !== testInfo.expectedStatus) {
        // Files in the test's output folder, so CI keeps them next to the trace.
        fs.writeFileSync(testInfo.outputPath('kubegate.log'), topo.kubegate.output().slice(start.tls));
        fs.writeFileSync(testInfo.outputPath('kubegate-direct.log'), topo.direct.output().slice(start.direct));
      }
    },
    { auto: true },
  ],
  consoleErrors: async ({ page, topo }, use) => {
    await use(watchConsoleErrors(page, topo.portal));
  },
  signIn: async ({ page, topo }, use) => {
    await use(async (who, baseUrl = topo.portal) => {
      await signInThroughUpstream(page, baseUrl, who);
    });
  },
  home: async ({ page, topo }, use) => use(new HomePage(page, topo.portal)),
  clusterPage: async ({ page, topo }, use) => use(new ClusterPage(page, topo.portal)),
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
  kube: async ({}, use, testInfo) => {
    const dir = testInfo.outputPath('kube');
    fs.mkdirSync(dir, { recursive: true });
    await use(kubectlEnv(dir));
  },
});

export async function signInThroughUpstream(page: Page, baseUrl: string, who: Person): Promise<void> {
  const login = new KubegateLoginPage(page, baseUrl);
  await login.open();
  await login.chooseUpstream('Corp SSO');
  const upstream = new UpstreamLoginPage(page);
  await upstream.expectShown();
  await upstream.signIn(USERS[who].username, USERS[who].password);
  await expect(page).toHaveURL(`${baseUrl}/`);
}

export { expect };
