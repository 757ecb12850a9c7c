/**
 * `kubegate revoke-key KID` for a compromised key, against the built server:
 * withdrawn from the JWKS within the key-sync interval, its id_tokens stop
 * verifying, a new key signs at once, and kubectl's next refresh gets a
 * token signed by it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_SYNC_INTERVAL_SECONDS } from '../../lib/oidc/key-timing';
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: KubegateServer;
let seeder: Seeder;
beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({}, 'kubegate-key-revocation-'));
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});
afterAll(async () => {
  await seeder?.close();
  await server?.stop();
});

describe('revoke-key', () => {
  it('withdraws the signing key within the sync interval; its tokens stop verifying; kubectl refreshes onto the new key', async () => {
    const { issuer, configPath } = server.files;
    const jwksUrl = `${issuer}/oidc/jwks`;
    const kids = async () => ((await (await fetch(jwksUrl)).json()) as JSONWebKeySet).keys.map((k) => k.kid);
    const minted = await seeder.mint('prod');
    const first = await kubectlRefresh(issuer, 'kubernetes', '', minted.refreshToken);
    expect(first.status).toBe(200);
    const compromised = decodeProtectedHeader(first.json.id_token as string).kid!;
    expect(await kids()).toEqual([compromised]);
    await jwtVerify(first.json.id_token as string, createRemoteJWKSet(new URL(jwksUrl)), { issuer, audience: 'kubernetes' });

    const out = await admin(configPath, 'revoke-key', compromised);
    expect(out.code, out.stderr).toBe(0);
    const revokedAt = Date.now();
    const replacement = /new signing key (\S+) signs from now, with no lead time/.exec(out.stdout)?.[1];
    expect(replacement, out.stdout).toBeDefined();
    expect(out.stdout).toContain(`revoked signing key ${compromised} (it was the signing key)`);
    expect(out.stdout).toContain(`the running server withdraws it from the JWKS within ${KEY_SYNC_INTERVAL_SECONDS} s`);

    // Gone from the server's JWKS within the sync interval.
    while (Date.now() - revokedAt < (KEY_SYNC_INTERVAL_SECONDS + 5) * 1000 && (await kids()).includes(compromised)) await sleep(200);
    const withdrawnSeenAt = Date.now();
    const withdrawnAfter = withdrawnSeenAt - revokedAt;
    expect(await kids()).toEqual([replacement]);
    expect(withdrawnAfter).toBeLessThanOrEqual(KEY_SYNC_INTERVAL_SECONDS * 1000 + 1000);

    // A verifier that fetches the JWKS now refuses what the withdrawn key signed ...
    await expect(
      jwtVerify(first.json.id_token as string, createRemoteJWKSet(new URL(jwksUrl)), { issuer, audience: 'kubernetes' }),
    ).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
    // ... and kubectl's next refresh gets a token signed by the new key, which verifies.
    const next = await kubectlRefresh(issuer, 'kubernetes', '', first.json.refresh_token as string);
    expect(next.status).toBe(200);
    expect(decodeProtectedHeader(next.json.id_token as string).kid).toBe(replacement);
    await jwtVerify(next.json.id_token as string, createRemoteJWKSet(new URL(jwksUrl)), { issuer, audience: 'kubernetes' });

    const audit = await admin(configPath, 'audit', '--kind', 'key.revoked');
    expect(audit.stdout).toContain(compromised);
    const listed = await admin(configPath, 'keys');
    expect(listed.stdout).toMatch(new RegExp(`^${replacement}\\s+RS256\\s+signing\\s+yes`, 'm'));
    expect(listed.stdout).toMatch(new RegExp(`^${compromised}\\s+RS256\\s+revoked\\s+no`, 'm'));

    // It never comes back: not after more syncs, not after a restart. The sync that withdrew it ran before
    // withdrawnSeenAt, so one more has run by a sync interval after it (the admin commands above used part of that).
    await sleep(withdrawnSeenAt + KEY_SYNC_INTERVAL_SECONDS * 1000 + 500 - Date.now());
    expect(await kids()).toEqual([replacement]);
    await server.kill('SIGTERM');
    await server.start();
    expect(await kids()).toEqual([replacement]);
    const again = await admin(configPath, 'revoke-key', compromised);
    expect(again.stdout).toBe(`signing key ${compromised} was already revoked; ${replacement} signs\n`);
    expect(await kids()).toEqual([replacement]);
  });

  it('refuses an unknown key id', async () => {
    const out = await admin(server.files.configPath, 'revoke-key', 'no-such-kid');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toBe('kubegate: no signing key no-such-kid (see `kubegate keys`)\n');
    const missing = await admin(server.files.configPath, 'revoke-key');
    expect(missing.stderr).toContain('revoke-key needs a key id');
  });
});
