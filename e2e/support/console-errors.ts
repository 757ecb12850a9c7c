import type { Page } from '@playwright/test';

/**
 * Errors in the browser console while the page is on one of Kubegate's pages
 * (CSP violations show up here; the upstream IdP's pages are not ours to
 * judge). Chromium's "Failed to load resource" line names no resource, so
 * each one carries the last few responses of 400 and above seen since the
 * last console error, by method and path: a failure says which request it was.
 */
export function watchConsoleErrors(page: Page, origin: string): string[] {
  const errors: string[] = [];
  let failed: string[] = [];
  page.on('response', (res) => {
    if (res.status() < 400) return;
    // The last few are enough to name the one a console line is about; a test that meets many 4xx on purpose keeps none of the old ones.
    failed = [...failed.slice(-4), `${res.status()} ${res.request().method()} ${new URL(res.url()).pathname}`];
  });
  page.on('console', (m) => {
    if (m.type() !== 'error' || !page.url().startsWith(origin)) return;
    const responses = m.text().startsWith('Failed to load resource') && failed.length > 0 ? ` [${failed.join(', ')}]` : '';
    errors.push(`${page.url()}: ${m.text()}${responses}`);
    failed = [];
  });
  return errors;
}
