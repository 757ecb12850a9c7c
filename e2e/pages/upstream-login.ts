import { expect, type Page } from '@playwright/test';

/** The upstream identity provider's own login form (oidc-provider in the harness). */
export class UpstreamLoginPage {
  constructor(private readonly page: Page) {}

  async expectShown(): Promise<void> {
    await expect(this.page).toHaveURL(/\/interaction\//);
    await expect(this.page.getByLabel('Username')).toBeVisible();
    await expect(this.page.getByLabel('Password')).toBeVisible();
  }

  async signIn(username: string, password: string): Promise<void> {
    await this.page.getByLabel('Username').fill(username);
    await this.page.getByLabel('Password').fill(password);
    await this.page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }
}
