/**
 * Two built Kubegate servers (replicas) on one PostgreSQL schema: any
 * replica serves any request, the same refresh token at both at once is
 * rotated once and both answer the same successor, and a database that
 * does not answer in time is 503 `temporarily_unavailable` with nothing
 * consumed. The schema is created for the run in the database at
 * KUBEGATE_TEST_POSTGRES_URL (default: the test machines' and CI's server).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashRefreshToken } from '../../lib/oidc/refresh-tokens';
import { expectOAuthError } from './support/assert';
import { kubectlRefresh } from './support/client';
import { KubegateServer, prepareKubegate, PROJECT_DIR } from './support/kubegate';
import { openSeeder, type Seeder } from './support/seed';

const BASE_URL = process.env.KUBEGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `kubegate_test_${randomBytes(6).toString('hex')}`;
const admin = new pg.Pool({ connectionString: BASE_URL, max: 2, connectionTimeoutMillis: 3000 });
admin.on('error', () => {});

let replicas: KubegateServer[] = [];
let seeder: Seeder;

beforeAll(async () => {
  try {
    await admin.query(`create schema ${schema}`);
  } catch (err) {
    throw new Error(`PostgreSQL for the HTTP suite is not reachable at ${BASE_URL} (${(err as Error).message}); start it or set KUBEGATE_TEST_POSTGRES_URL`);
  }
  const url = new URL(BASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const postgres = { url: url.toString(), statement_timeout: '1s' };
  const first = await prepareKubegate({ postgres, idTokenLifetime: 60, reuseGrace: 5 }, 'kubegate-pg-a-');
  const second = await prepareKubegate({ postgres, idTokenLifetime: 60, reuseGrace: 5 }, 'kubegate-pg-b-');
  // Replicas share the key-encryption key, as pods share the Secret.
  fs.copyFileSync(path.join(first.dir, 'kubegate.key'), path.join(second.dir, 'kubegate.key'));
  replicas = [new KubegateServer(first), new KubegateServer(second)];
  // Started together: they migrate once (the advisory lock) and agree on the keys.
  await Promise.all(replicas.map((r) => r.start()));
  seeder = await openSeeder(first.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await Promise.all(replicas.map((r) => r.stop()));
  await admin.query(`drop schema if exists ${schema} cascade`).catch(() => {});
  await admin.end();
});

describe('two replicas on PostgreSQL', () => {
  it('started together on an empty database, publish the same JWKS at once: one signing key, made once', async () => {
    // Regression: each replica planned its keys from what it had read, then wrote: both made a key,
    // and they served different JWKS until a key sync settled on one.
    const [a, b] = await Promise.all(replicas.map(async (r) => (await fetch(`${r.url}/oidc/jwks`)).text()));
    expect(a).toBe(b);
    expect((JSON.parse(a!) as { keys: unknown[] }).keys).toHaveLength(1);
    expect((await admin.query(`select count(*)::int as n from ${schema}.signing_keys`)).rows[0].n).toBe(1);
  });

  it('rotate a token refreshed at both at once exactly once: both answer the same successor', async () => {
    const { refreshToken, family: { id: familyId } } = await seeder.mint('prod');
    const answers = await Promise.all(replicas.map((r) => kubectlRefresh(r.url, 'kubernetes', '', refreshToken)));
    for (const a of answers) expect(a.status, a.text).toBe(200);
    const [one, two] = answers.map((a) => a.json.refresh_token as string);
    expect(one).toBe(two);
    expect(await seeder.store.getFamily(familyId)).toMatchObject({ generation: 1, revoked_at: null });
    // The successor works at either replica.
    const next = await kubectlRefresh(replicas[1]!.url, 'kubernetes', '', one!);
    expect(next.status, next.text).toBe(200);
    expect(await seeder.store.getFamily(familyId)).toMatchObject({ generation: 2 });
  });

  it('answer 503 temporarily_unavailable while the database does not answer in time, consuming nothing, then recover', async () => {
    const { refreshToken } = await seeder.mint('prod');
    const locker = await admin.connect();
    let released = false;
    try {
      await locker.query('begin');
      await locker.query(`lock table ${schema}.refresh_tokens in access exclusive mode`);
      const started = Date.now();
      const r = await kubectlRefresh(replicas[0]!.url, 'kubernetes', '', refreshToken);
      expectOAuthError(r, 503, 'temporarily_unavailable', /nothing was changed/);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Date.now() - started).toBeLessThan(5000);
      await locker.query('rollback');
      released = true;
      const ctx = await seeder.store.findRefreshContext(hashRefreshToken(refreshToken));
      expect(ctx?.token.used_at).toBeNull();
      const again = await kubectlRefresh(replicas[1]!.url, 'kubernetes', '', refreshToken);
      expect(again.status, again.text).toBe(200);
    } finally {
      if (!released) await locker.query('rollback');
      locker.release();
    }
  });

  // Last: it revokes everything.
  it('after a restore, `kubegate restore` revokes every credential for every replica', async () => {
    const { refreshToken } = await seeder.mint('prod');
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(PROJECT_DIR, 'scripts/kubegate.mjs'), 'restore'], { env: { ...process.env, KUBEGATE_CONFIG: replicas[1]!.files.configPath } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/revoked \d+ sign-in\(s\) and \d+ credential\(s\)/);
    for (const r of replicas) expectOAuthError(await kubectlRefresh(r.url, 'kubernetes', '', refreshToken), 400, 'invalid_grant');
  });
});
