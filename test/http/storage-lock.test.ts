/**
 * A database locked by another process (a long admin job, a backup tool
 * holding a write transaction): the server never waits on it on its event
 * loop. Issuer endpoints that need no write answer at once; a write waits
 * for at most `storage.sqlite.busy_timeout`, is refused having changed
 * nothing, and works again once the lock is gone. Its own server.
 */
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlRefresh } from './support/client';
import { KubegateServer, prepareKubegate, STAGE_SECRET } from './support/kubegate';
import { openSeeder, readFamilyRow, readTokenRow } from './support/seed';

const BOUND_S = 2;
let server: KubegateServer;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ busyTimeout: BOUND_S }, 'kubegate-lock-'));
  await server.start();
});

afterAll(async () => {
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a database locked by another process', () => {
  it('keeps the issuer answering at once, refuses the refresh within the bound without consuming the token, and refreshes once the lock is gone', async () => {
    const { dbPath } = server.files;
    const seeder = await openSeeder(server.files.configPath);
    const minted = await seeder.mint('prod');
    await seeder.close();

    const holder = new Database(dbPath);
    holder.exec('BEGIN IMMEDIATE');
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      holder.exec('ROLLBACK');
      holder.close();
    };
    try {
      const started = performance.now();
      // A rotation, and a denial (wrong client) whose audit row is a write too.
      const refresh = kubectlRefresh(server.url, 'kubernetes', '', minted.refreshToken);
      const denied = kubectlRefresh(server.url, 'stage-cluster', STAGE_SECRET, minted.refreshToken);
      await sleep(300);
      const waits: number[] = [];
      while (performance.now() - started < BOUND_S * 1000 - 300) {
        const t = performance.now();
        const res = await fetch(`${server.url}/oidc/jwks`);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        waits.push(performance.now() - t);
        await sleep(100);
      }
      expect(waits.length).toBeGreaterThan(3);
      // While both writes wait for the lock, JWKS never waits behind them.
      expect(Math.max(...waits)).toBeLessThan(300);

      const [r, d] = await Promise.all([refresh, denied]);
      const elapsed = performance.now() - started;
      expect(r.status, r.text).toBeGreaterThanOrEqual(500);
      expect(r.text).not.toMatch(/kgr_/);
      expect(d.status, d.text).not.toBe(200);
      expect(elapsed).toBeGreaterThanOrEqual(BOUND_S * 1000 * 0.9);
      expect(elapsed).toBeLessThan(BOUND_S * 1000 + 2000);

      // Consumed nothing: the token is still unspent, the family untouched.
      expect(readTokenRow(dbPath, minted.refreshToken)?.used_at).toBeNull();
      expect(readFamilyRow(dbPath, minted.family.id)).toMatchObject({ generation: 0, revoked_at: null });
    } finally {
      release();
    }

    const after = await kubectlRefresh(server.url, 'kubernetes', '', minted.refreshToken);
    expect(after.status, after.text).toBe(200);
    expect(readFamilyRow(dbPath, minted.family.id)).toMatchObject({ generation: 1 });
  });
});
