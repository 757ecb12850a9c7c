/**
 * `kubegate rotate-key` against the built server while kubectl keeps
 * refreshing: the new key is in the JWKS for longer than a cached JWKS lives
 * before the server signs with it, so neither a verifier that honours the
 * JWKS `max-age` nor one that keeps keys and refetches on an unknown kid
 * (go-oidc in kube-apiserver, at a max-age under its 30 s window) ever fails.
 *
 * The server announces a 2 s max-age (signing.jwks_max_age) and publishes
 * ahead by the minimum that allows (17 s), so the rotation takes seconds
 * instead of the 75 s the default 60 s max-age needs: the proof is the same,
 * the margin over the cache is the same 15 s (the 5 s key sync + 10 s).
 * jose's createRemoteJWKSet defaults (30 s refetch cooldown) need more than
 * that minimum; lib/oidc/keys.test.ts covers them at the default timings.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_SYNC_INTERVAL_SECONDS, minPublishAheadSeconds } from '../../lib/oidc/key-timing';
import { kubectlRefresh } from './support/client';
import { KubegateServer, prepareKubegate, PROJECT_DIR } from './support/kubegate';
import { openSeeder, type Seeder } from './support/seed';

function admin(configPath: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(PROJECT_DIR, 'scripts/kubegate.mjs'), ...args], { env: { ...process.env, KUBEGATE_CONFIG: configPath } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** signing.jwks_max_age for this file, and the shortest publish_ahead it allows. */
const JWKS_MAX_AGE = 2;
const PUBLISH_AHEAD = minPublishAheadSeconds(JWKS_MAX_AGE);

/** A verifier that caches the JWKS for exactly its `Cache-Control: max-age` and never fetches it before (a strict HTTP cache). */
function maxAgeVerifier(url: string): { getKey: JWTVerifyGetKey; fetchedAt: number[] } {
  let doc: JSONWebKeySet | undefined;
  let until = 0;
  const self = {
    fetchedAt: [] as number[],
    getKey: (async (header, token) => {
      if (!doc || Date.now() >= until) {
        const res = await fetch(url);
        const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
        doc = (await res.json()) as JSONWebKeySet;
        until = Date.now() + maxAge * 1000;
        self.fetchedAt.push(Date.now());
      }
      return createLocalJWKSet(doc)(header, token);
    }) as JWTVerifyGetKey,
  };
  return self;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: KubegateServer;
let seeder: Seeder;
beforeAll(async () => {
  // The shortest lead the config accepts: one JWKS cache lifetime + the sync interval + a margin.
  server = new KubegateServer(await prepareKubegate({ jwksMaxAge: JWKS_MAX_AGE, publishAhead: PUBLISH_AHEAD }, 'kubegate-key-rotation-'));
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});
afterAll(async () => {
  await seeder?.close();
  await server?.stop();
});

describe('rotate-key while kubectl refreshes', () => {
  it(
    'publishes the next key at once and signs with it publish_ahead later: zero verification failures across the switch',
    async () => {
      const { issuer, configPath } = server.files;
      const jwksUrl = `${issuer}/oidc/jwks`;
      const jwksRes = await fetch(jwksUrl);
      expect(jwksRes.headers.get('cache-control')).toBe(`public, max-age=${JWKS_MAX_AGE}`);
      const oldKid = ((await jwksRes.json()) as JSONWebKeySet).keys[0]!.kid!;

      // Many credentials, refreshed in turn, as a team's kubectl would: no family refreshes more than kubectl does.
      const tokens: string[] = [];
      for (let i = 0; i < 30; i++) tokens.push((await seeder.mint('prod')).refreshToken);
      const strict = maxAgeVerifier(jwksUrl);
      const verifiers = {
        // jose's 10 min cache, refetching on an unknown kid at once: go-oidc's RemoteKeySet in kube-apiserver at a max-age under 30 s.
        'keeps keys, refetches on an unknown kid': createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 0 }),
        'honours max-age': strict.getKey,
      };
      const failures: string[] = [];
      const signed: { kid: string; at: number }[] = [];
      let n = 0;
      const refreshAndVerify = async () => {
        const i = n++ % tokens.length;
        const r = await kubectlRefresh(issuer, 'kubernetes', '', tokens[i]!);
        expect(r.status, r.text).toBe(200);
        tokens[i] = r.json.refresh_token as string;
        const idToken = r.json.id_token as string;
        const at = Date.now();
        signed.push({ kid: decodeProtectedHeader(idToken).kid!, at });
        for (const [name, getKey] of Object.entries(verifiers)) {
          await jwtVerify(idToken, getKey, { issuer, audience: 'kubernetes' }).catch((err: Error) =>
            failures.push(`${new Date(at).toISOString()} ${name}: ${err.message}`),
          );
        }
      };
      // Both verifiers hold the JWKS as it is before the rotation.
      for (let i = 0; i < 3; i++) await refreshAndVerify();

      const out = await admin(configPath, 'rotate-key');
      expect(out.code, out.stderr).toBe(0);
      const rotatedAt = Date.now();
      const newKid = /published signing key (\S+) now/.exec(out.stdout)?.[1];
      expect(newKid, out.stdout).toBeDefined();
      expect(out.stdout).toMatch(new RegExp(`it starts signing at \\S+Z, in ${PUBLISH_AHEAD} s \\(signing\\.publish_ahead\\)`));
      expect(out.stdout).toContain(`${oldKid} signs until then`);
      const row = (await seeder.store.listSigningKeys()).find((k) => k.kid === newKid)!;
      expect(row.activates_at - row.created_at).toBe(PUBLISH_AHEAD * 1000);

      // Until the new key has signed for longer than a cache lifetime: the strict verifier checks its tokens from a cached copy and after refetching.
      let publishedAt: number | undefined;
      let firstNewAt: number | undefined;
      // The admin command's view while the new key waits, once the server has published it (so it does not delay that measurement).
      let adminView: Promise<{ listed: Awaited<ReturnType<typeof admin>>; again: Awaited<ReturnType<typeof admin>> }> | undefined;
      while (firstNewAt === undefined || Date.now() < firstNewAt + (JWKS_MAX_AGE + 1) * 1000) {
        if (publishedAt === undefined) {
          const doc = (await (await fetch(jwksUrl)).json()) as JSONWebKeySet;
          if (doc.keys.some((k) => k.kid === newKid)) publishedAt = Date.now();
        }
        adminView ??= publishedAt === undefined ? undefined : (async () => ({ listed: await admin(configPath, 'keys'), again: await admin(configPath, 'rotate-key') }))();
        await refreshAndVerify();
        firstNewAt ??= signed.find((s) => s.kid === newKid)?.at;
        await sleep(400);
        if (Date.now() > row.activates_at + 30_000) break;
      }

      expect(failures).toEqual([]);
      // Published within one sync interval of the command; never signing before its activation.
      expect(publishedAt! - rotatedAt).toBeLessThanOrEqual(KEY_SYNC_INTERVAL_SECONDS * 1000 + 1000);
      expect(signed.filter((s) => s.at < row.activates_at).every((s) => s.kid === oldKid)).toBe(true);
      const firstNew = signed.find((s) => s.kid === newKid);
      expect(firstNew, 'the new key never signed').toBeDefined();
      expect(firstNew!.at - publishedAt!).toBeGreaterThan(JWKS_MAX_AGE * 1000);
      // The strict verifier did cache (fewer fetches than tokens), and checked the new key's tokens after refetching too.
      expect(strict.fetchedAt.length).toBeLessThan(signed.length);
      expect(strict.fetchedAt.some((t) => t > firstNew!.at)).toBe(true);
      expect(firstNew!.at - row.activates_at).toBeLessThanOrEqual(KEY_SYNC_INTERVAL_SECONDS * 1000 + 1500);
      // Before the switch, `keys` shows the new key as next and published, and a second rotate-key does not stack another key.
      const { listed, again } = await adminView!;
      expect(listed.stdout).toMatch(new RegExp(`^${newKid}\\s+RS256\\s+next\\s+yes`, 'm'));
      expect(listed.stdout).toMatch(new RegExp(`^${oldKid}\\s+RS256\\s+signing\\s+yes`, 'm'));
      expect(again.stdout).toContain(`signing key ${newKid} is already published`);
      expect((await seeder.store.listSigningKeys()).map((k) => k.kid).sort()).toEqual([newKid, oldKid].sort());
      // The old key stays published for the tokens it signed.
      const after = (await (await fetch(jwksUrl)).json()) as JSONWebKeySet;
      expect(after.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    },
    4 * 60_000,
  );
});
