/**
 * A database another process holds locked, against the built server: the
 * token endpoint answers 503 `temporarily_unavailable` with Retry-After and
 * consumes nothing, /readyz fails and recovers, /healthz and the JWKS stay
 * fast (the event loop never waits on the lock).
 *
 * Needs the store to throw StoreUnavailableError after a bounded wait and to
 * keep database calls off the event loop (issue #7, storage part): on a
 * store without that, the refresh waits out SQLite's busy timeout on the
 * main thread and answers 500.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOAuthError } from './support/assert';
import { kubectlRefresh } from './support/client';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { openSeeder, readTokenRow, type Seeder } from './support/seed';

let server: KubegateServer;
let seeder: Seeder;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ idTokenLifetime: 60, reuseGrace: 2 }, 'kubegate-locked-'));
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

async function timed(url: string): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  return { status: res.status, ms: performance.now() - started, body };
}

describe('a database locked by another process', () => {
  it('answers 503 + Retry-After, consumes nothing, keeps the JWKS fast, fails /readyz, and recovers by itself', async () => {
    const { refreshToken } = await seeder.mint('prod');
    const lock = new Database(server.files.dbPath);
    lock.exec('BEGIN IMMEDIATE');
    let released = false;
    try {
      const refresh = kubectlRefresh(server.url, 'kubernetes', '', refreshToken);
      // Meanwhile, unrelated requests are answered at once.
      const jwks: number[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await timed(`${server.url}/oidc/jwks`);
        expect(r.status).toBe(200);
        jwks.push(r.ms);
      }
      // (The issue saw 2.6 s; the bounds leave room for a busy 2-core machine.)
      jwks.sort((a, b) => a - b);
      expect(jwks[Math.floor(jwks.length / 2)]).toBeLessThan(250);
      expect(jwks.at(-1)).toBeLessThan(1000);
      const health = await timed(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      expect(health.ms).toBeLessThan(1000);

      const r = await refresh;
      expectOAuthError(r, 503, 'temporarily_unavailable', /nothing was changed/);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

      const ready = await timed(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.ms).toBeLessThan(5000);
      expect(JSON.parse(ready.body)).toMatchObject({ status: 'unavailable' });
      expect(readTokenRow(server.files.dbPath, refreshToken)?.used_at).toBeNull();

      lock.exec('ROLLBACK');
      released = true;
      // The same token refreshes once the lock is gone: it was never spent.
      const again = await kubectlRefresh(server.url, 'kubernetes', '', refreshToken);
      expect(again.status, again.text).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // past /readyz's one-second cache
      expect((await timed(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      if (!released) lock.exec('ROLLBACK');
      lock.close();
    }
  });
});
