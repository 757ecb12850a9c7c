/**
 * The test-scoped fixtures every spec with its own small topology (a
 * worker-scoped `world` with its portal URL) needs: clipboard access for the
 * portal's Copy buttons, the page objects at that portal, and a fresh
 * kubectl home per test. Spread into `base.extend({ world: [...], ...worldFixtures })`.
 */
import fs from 'node:fs';
import type { BrowserContext, Page, TestInfo } from '@playwright/test';
import { ClusterPage, HomePage, KubegateLoginPage } from '../pages/portal';
import { kubectlEnv, type KubectlEnv } from './kubectl';

type World = { world: { portal: string } };

export interface WorldFixtures {
  kube: KubectlEnv;
  login: KubegateLoginPage;
  clusterPage: ClusterPage;
  home: HomePage;
}

export const worldFixtures = {
  context: async ({ context, world }: World & { context: BrowserContext }, use: (c: BrowserContext) => Promise<void>) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: world.portal });
    await use(context);
  },
  login: async ({ page, world }: World & { page: Page }, use: (l: KubegateLoginPage) => Promise<void>) => use(new KubegateLoginPage(page, world.portal)),
  clusterPage: async ({ page, world }: World & { page: Page }, use: (c: ClusterPage) => Promise<void>) => use(new ClusterPage(page, world.portal)),
  home: async ({ page, world }: World & { page: Page }, use: (h: HomePage) => Promise<void>) => use(new HomePage(page, world.portal)),
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take an object pattern
  kube: async ({}: object, use: (k: KubectlEnv) => Promise<void>, testInfo: TestInfo) => {
    const dir = testInfo.outputPath('kube');
    fs.mkdirSync(dir, { recursive: true });
    await use(kubectlEnv(dir));
  },
};
