/**
 * Two built Kubegate processes on one PostgreSQL schema behind a
 * round-robin load balancer (test/http/support/round-robin.ts, TLS, every
 * request to the next replica), the issuer URL being the balancer's, as a
 * Deployment with two pods behind a Service and an Ingress:
 *
 * - started at the same moment on an empty schema, both publish the same
 *   JWKS at once (one signing key, made once);
 * - real kubectl, with a kubeconfig built as the portal builds it, refreshes
 *   through the balancer across several short id_token lifetimes, and the
 *   refreshes land on both replicas;
 * - the same refresh token sent to both replicas at once: one successor, both
 *   answer it; replayed after the grace, the family is revoked for both.
 *
 * No browser is needed (tokens are minted through the library, as the
 * portal mints them), so this is the vitest HTTP suite, not Playwright.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../e2e/support/apiserver';
import { createTestPki, type TestPki } from '../../e2e/support/certs';
import { fetchWithCa } from '../../e2e/support/fetch-with-ca';
import { authProviderConfig, kubectlEnv, kubectlPersistsRefresh, whoami, type KubectlEnv } from '../../e2e/support/kubectl';
import { buildKubeconfig, toYaml } from '../../lib/kubeconfig/build';
import { hashRefreshToken } from '../../lib/oidc/refresh-tokens';
import { basic, form, readTokenCall, type TokenCall } from './support/client';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { RoundRobinProxy } from './support/round-robin';
import { openSeeder, type Seeder } from './support/seed';

const BASE_URL = process.env.KUBEGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `kubegate_test_${randomBytes(6).toString('hex')}`;
const admin = new pg.Pool({ connectionString: BASE_URL, max: 2, connectionTimeoutMillis: 3000 });
admin.on('error', () => {});

const ID_TOKEN_LIFETIME = 3;
const REUSE_GRACE = 3;
const TOKEN = 'POST /oidc/token';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let root: string;
let pki: TestPki;
let lb: RoundRobinProxy;
let api: ApiServer;
let replicas: KubegateServer[] = [];
let seeder: Seeder;
let fetchLb: ReturnType<typeof fetchWithCa>;
let startedAt: { first: string[] };

/** A refresh as kubectl sends it, through the balancer. */
async function refreshAtLb(refreshToken: string): Promise<TokenCall> {
  const res = await fetchLb(`${lb.url}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('kubernetes', '') },
    body: form({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  return readTokenCall(res);
}

beforeAll(async () => {
  try {
    await admin.query(`create schema ${schema}`);
  } catch (err) {
    throw new Error(`PostgreSQL for the HTTP suite is not reachable at ${BASE_URL} (${(err as Error).message}); start it or set KUBEGATE_TEST_POSTGRES_URL`);
  }
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-replicas-'));
  pki = await createTestPki(path.join(root, 'pki'));
  fetchLb = fetchWithCa(pki.caPem);
  // The balancer first: its address is the issuer URL every replica is configured with.
  lb = await RoundRobinProxy.start({ tls: pki.issue('kubegate') });
  api = await startApiServer({
    tls: pki.issue('apiserver'),
    caPem: pki.caPem,
    oidc: { issuerUrl: lb.url, clientId: 'kubernetes', caPem: pki.caPem, usernameClaim: 'preferred_username', usernamePrefix: 'kubegate:', groupsClaim: 'groups' },
  });

  const url = new URL(BASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const postgres = { url: url.toString(), statement_timeout: '2s' };
  const files = [];
  for (const name of ['a', 'b']) {
    const f = await prepareKubegate({ postgres, idTokenLifetime: ID_TOKEN_LIFETIME, reuseGrace: REUSE_GRACE, server: { trust_proxy: true } }, `kubegate-replica-${name}-`);
    const config = JSON.parse(fs.readFileSync(f.configPath, 'utf8')) as { issuer: Record<string, unknown>; clusters: Array<Record<string, unknown>> };
    config.issuer.url = lb.url;
    config.clusters[0]!.server = api.url;
    fs.writeFileSync(f.configPath, JSON.stringify(config, null, 2));
    files.push(f);
  }
  // Replicas share the key-encryption key, as pods share the Secret.
  fs.copyFileSync(path.join(files[0]!.dir, 'kubegate.key'), path.join(files[1]!.dir, 'kubegate.key'));
  replicas = files.map((f) => new KubegateServer(f));
  lb.backends = replicas.map((r) => r.url);
  // Started at the same moment on an empty schema.
  await Promise.all(replicas.map((r) => r.start()));
  startedAt = { first: await Promise.all(replicas.map(async (r) => (await fetch(`${r.url}/oidc/jwks`)).text())) };
  seeder = await openSeeder(files[0]!.configPath);
}, 180_000);

afterAll(async () => {
  await seeder?.close();
  await Promise.all(replicas.map((r) => r.stop()));
  await api?.close();
  await lb?.close();
  if (root) fs.rmSync(root, { recursive: true, force: true });
  await admin.query(`drop schema if exists ${schema} cascade`).catch(() => {});
  await admin.end();
});

describe('two replicas behind a round-robin balancer', () => {
  it('started together on an empty database, publish one signing key: the same JWKS at once', async () => {
    const [a, b] = startedAt.first;
    expect(a).toBe(b);
    expect((JSON.parse(a!) as { keys: unknown[] }).keys).toHaveLength(1);
    expect((await admin.query(`select count(*)::int as n from ${schema}.signing_keys`)).rows[0].n).toBe(1);
    expect((await admin.query(`select count(*)::int as n from ${schema}.audit_events where kind = 'key.created'`)).rows[0].n).toBe(1);
  });

  it('real kubectl refreshes through the balancer across several id_token lifetimes, at both replicas', async () => {
    const persists = kubectlPersistsRefresh();
    if (!persists.ok) {
      // Debian's kubectl 1.20 cannot write the refreshed tokens back (see e2e/support/kubectl.ts).
      console.warn(`skipped: ${persists.why}`);
      return;
    }
    const minted = await seeder.mint('prod');
    const kube: KubectlEnv = kubectlEnv(path.join(root, 'kubectl'));
    fs.mkdirSync(path.dirname(kube.kubeconfig), { recursive: true });
    const kubeconfig = buildKubeconfig([
      {
        cluster: { name: 'prod', server: api.url, caPem: pki.caPem },
        user: { name: 'alice@prod', issuerUrl: lb.url, clientId: 'kubernetes', idToken: minted.idToken, refreshToken: minted.refreshToken, issuerCaPem: pki.caPem },
        context: { name: 'alice@prod', namespace: 'default' },
      },
    ]);
    fs.writeFileSync(kube.kubeconfig, toYaml(kubeconfig), { mode: 0o600 });

    const tokensBefore = lb.log.filter((f) => f.route === TOKEN).length;
    const seen = [minted.refreshToken];
    const ROUNDS = 4;
    for (let i = 0; i < ROUNDS; i++) {
      const exp = (JSON.parse(Buffer.from(authProviderConfig(kube.kubeconfig)['id-token']!.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
      await sleep(Math.max(0, exp * 1000 - Date.now() + 1000));
      const me = await whoami(kube);
      expect(me.ok, me.result.stderr).toBe(true);
      expect(me.username).toBe('kubegate:alice');
      const rt = authProviderConfig(kube.kubeconfig)['refresh-token']!;
      expect(seen).not.toContain(rt);
      seen.push(rt);
    }
    // Every refresh went through the balancer, alternating: both replicas rotated the chain. (kubectl
    // refreshes an id_token 10 s before it expires: with a 3 s lifetime, before every request it sends,
    // so a whoami may refresh more than once.)
    const refreshes = lb.log.filter((f) => f.route === TOKEN).slice(tokensBefore);
    expect(refreshes.length).toBeGreaterThanOrEqual(ROUNDS);
    expect(refreshes.map((f) => f.status)).toEqual(refreshes.map(() => 200));
    for (const backend of [0, 1]) expect(refreshes.filter((f) => f.backend === backend).length, `refreshes at replica ${backend}`).toBeGreaterThanOrEqual(2);
    // One unbroken chain: the family is live, every refresh moved it one step, and its head is the
    // last token kubectl holds.
    const head = await seeder.store.findRefreshContext(hashRefreshToken(seen.at(-1)!));
    expect(head?.family).toMatchObject({ id: minted.family.id, generation: refreshes.length, revoked_at: null });
    expect(head?.token.used_at).toBeNull();
    // The API server never saw an expired or foreign token.
    expect(api.requests.filter((r) => r.status === 401)).toEqual([]);
  });

  it('the same refresh token at both replicas at once: one successor, which both answer; replayed after the grace, the family dies everywhere', async () => {
    for (let round = 0; round < 3; round++) {
      const { refreshToken, family } = await seeder.mint('prod');
      const before = lb.log.length;
      const answers = await Promise.all([refreshAtLb(refreshToken), refreshAtLb(refreshToken)]);
      // The balancer sent one to each replica.
      expect(new Set(lb.log.slice(before).map((f) => f.backend))).toEqual(new Set([0, 1]));
      for (const a of answers) {
        expect(a.status, a.text).toBe(200);
        expect(a.headers.get('cache-control')).toBe('no-store');
      }
      const [one, two] = answers.map((a) => a.json.refresh_token as string);
      expect(one).toBe(two);
      const stored = await seeder.store.getFamily(family.id);
      expect(stored).toMatchObject({ generation: 1, revoked_at: null });
      const heads = await admin.query(`select count(*)::int as n from ${schema}.refresh_tokens where family_id = $1 and used_at is null`, [family.id]);
      expect(heads.rows[0].n).toBe(1);

      if (round < 2) continue;
      // After the grace, the spent token is a reuse: refused, and the family revoked, at both replicas.
      await sleep((REUSE_GRACE + 1) * 1000);
      const replay = await refreshAtLb(refreshToken);
      expect(replay.status, replay.text).toBe(400);
      expect(replay.json.error).toBe('invalid_grant');
      expect((await seeder.store.getFamily(family.id))?.revoke_reason).toBe('refresh_token_reuse');
      for (let i = 0; i < 2; i++) {
        const r = await refreshAtLb(one!);
        expect(r.status, r.text).toBe(400);
        expect(r.json.error).toBe('invalid_grant');
      }
      expect(new Set(lb.log.slice(-2).map((f) => f.backend))).toEqual(new Set([0, 1]));
    }
  });
});
