import { expect, type Download, type Page } from '@playwright/test';
import type { Shell } from '../../lib/kubeconfig/types';

/** Kubegate's sign-in page. */
export class KubegateLoginPage {
  constructor(private readonly page: Page, private readonly base: string) {}

  async open(): Promise<void> {
    await this.page.goto(`${this.base}/login`);
  }

  async chooseUpstream(name: string): Promise<void> {
    await this.page.getByRole('button', { name: `Sign in with ${name}` }).click();
  }

  /** Fills and submits the username/password form labelled "Sign in with <label>" (local accounts, LDAP). */
  async signInWithPassword(label: string | RegExp, username: string, password: string): Promise<void> {
    const form = this.page.getByRole('form', { name: typeof label === 'string' ? `Sign in with ${label}` : label });
    await form.getByLabel(/Username/).fill(username);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button').click();
  }

  async signInLocal(username: string, password: string): Promise<void> {
    await this.signInWithPassword(/^Sign in with Break-glass/, username, password);
  }

  alert() {
    return this.page.locator('#login-error');
  }
}

/** Home: who you are and your clusters. */
export class HomePage {
  constructor(private readonly page: Page, private readonly base: string) {}

  async open(): Promise<void> {
    await this.page.goto(`${this.base}/`);
  }

  username() {
    return this.page.getByTestId('username');
  }

  groups() {
    return this.page.getByTestId('groups');
  }

  clusterCard(name: string) {
    return this.page.getByTestId(`cluster-card-${name}`);
  }

  async downloadAll(): Promise<Download> {
    const [download] = await Promise.all([
      this.page.waitForEvent('download'),
      this.page.getByRole('button', { name: 'Download kubeconfig for all clusters' }).click(),
    ]);
    return download;
  }

  async signOut(): Promise<void> {
    await this.page.getByRole('button', { name: 'Sign out' }).click();
    await expect(this.page).toHaveURL(/\/login\?signed_out=1/);
  }
}

/** A cluster page: "Get credentials", then commands per shell, copy buttons, downloads. */
export class ClusterPage {
  constructor(private readonly page: Page, private readonly base: string) {}

  /** Opens the page: a GET, which hands out nothing. */
  async open(name: string): Promise<void> {
    await this.page.goto(`${this.base}/clusters/${name}`);
    await expect(this.getCredentialsButton()).toBeVisible();
  }

  getCredentialsButton() {
    return this.page.getByRole('button', { name: 'Get credentials' });
  }

  /** Presses "Get credentials" (a POST that mints one credential) and waits for the commands. */
  async getCredentials(): Promise<void> {
    await this.getCredentialsButton().click();
    await expect(this.page.getByRole('tablist', { name: 'Shell' })).toBeVisible();
  }

  async openWithCredentials(name: string): Promise<void> {
    await this.open(name);
    await this.getCredentials();
  }

  async selectShell(shell: Shell): Promise<void> {
    await this.page.locator(`[role=tab][data-shell=${shell}]`).click();
  }

  /** Clicks the panel's "Copy all" button and returns what landed on the clipboard. */
  async copyScript(shell: Shell): Promise<string> {
    await this.selectShell(shell);
    const panel = this.page.locator(`[role=tabpanel][data-shell=${shell}]`);
    await panel.getByRole('button', { name: 'Copy all' }).click();
    await expect(panel.getByRole('button', { name: 'Copied' })).toBeVisible();
    return this.page.evaluate(() => navigator.clipboard.readText());
  }

  /** What the copy button of a block outside the shell tabs (merge recipe, whoami) put on the clipboard. */
  async copyBlock(testId: string): Promise<string> {
    const block = this.page.getByTestId(testId);
    await block.getByRole('button', { name: 'Copy' }).click();
    await expect(block.getByRole('button', { name: 'Copied' })).toBeVisible();
    return this.page.evaluate(() => navigator.clipboard.readText());
  }

  async shownScript(shell: Shell): Promise<string> {
    await this.selectShell(shell);
    return (await this.page.getByTestId(`script-${shell}`).textContent()) ?? '';
  }

  async download(): Promise<Download> {
    const [download] = await Promise.all([this.page.waitForEvent('download'), this.page.getByTestId('download-kubeconfig').click()]);
    return download;
  }
}
