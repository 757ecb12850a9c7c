/**
 * A rotation is durable the moment its response is sent: it is in the
 * SQLite file right away, and survives `kill -9` of the server. This file
 * runs its own server (the shared one is not to be killed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOAuthError } from './support/assert';
import { kubectlRefresh } from './support/client';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { openSeeder, readFamilyRow, readTokenRow, type Seeder } from './support/seed';

let server: KubegateServer;
let seeder: Seeder;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ idTokenLifetime: 60, reuseGrace: 2, synchronous: 'full' }, 'kubegate-durability-'));
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

describe('durability of a rotation', () => {
  it('is visible in the SQLite file right after the response, and survives kill -9', async () => {
    const { dbPath } = server.files;
    const url = server.url;
    const { refreshToken: spent, family } = await seeder.mint('prod');
    // The seeder's connection must not be what keeps the WAL alive across the crash.
    await seeder.close();

    const r = await kubectlRefresh(url, 'kubernetes', '', spent);
    expect(r.status, r.text).toBe(200);
    const rotated = r.json.refresh_token as string;
    const rotatedAt = Date.now();

    // Right after the response, from another connection: spent marked used, successor stored as the head.
    const spentRow = readTokenRow(dbPath, spent);
    expect(spentRow?.used_at).toBeTypeOf('number');
    expect(readTokenRow(dbPath, rotated)).toMatchObject({ family_id: family.id, generation: 1, used_at: null });
    expect(readFamilyRow(dbPath, family.id)).toMatchObject({ generation: 1, revoked_at: null });

    const pid = server.pid!;
    await server.kill('SIGKILL');
    expect(() => process.kill(pid, 0)).toThrow();

    await server.start();
    // Past the reuse grace window, so presenting the spent token is reuse, not a replay.
    const wait = rotatedAt + 2_300 - Date.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));

    const after = await kubectlRefresh(url, 'kubernetes', '', rotated);
    expect(after.status, after.text).toBe(200);
    const newest = after.json.refresh_token as string;
    expect(readTokenRow(dbPath, newest)).toMatchObject({ generation: 2, used_at: null });

    expectOAuthError(await kubectlRefresh(url, 'kubernetes', '', spent), 400, 'invalid_grant', /already used/);
    expect(readFamilyRow(dbPath, family.id)).toMatchObject({ revoke_reason: 'refresh_token_reuse' });
    expectOAuthError(await kubectlRefresh(url, 'kubernetes', '', newest), 400, 'invalid_grant');
  });

  it('several rotations in a burst all survive kill -9', async () => {
    seeder = await openSeeder(server.files.configPath);
    const minted = await Promise.all(Array.from({ length: 20 }, () => seeder.mint('prod')));
    await seeder.close();
    const rotated = await Promise.all(
      minted.map(async (m) => {
        const r = await kubectlRefresh(server.url, 'kubernetes', '', m.refreshToken);
        expect(r.status, r.text).toBe(200);
        return r.json.refresh_token as string;
      }),
    );
    await server.kill('SIGKILL');
    await server.start();
    for (const t of rotated) {
      expect(readTokenRow(server.files.dbPath, t)?.used_at).toBeNull();
      const r = await kubectlRefresh(server.url, 'kubernetes', '', t);
      expect(r.status, r.text).toBe(200);
    }
    seeder = await openSeeder(server.files.configPath);
  });
});
