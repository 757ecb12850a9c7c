/**
 * Backup and restore with real processes: `kubegate backup` while the server
 * runs, the copy put back after more refreshes, the server restarted on it.
 * No refresh token from before the restore works afterwards. Its own server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKubegate } from './support/admin';
import { expectOAuthError } from './support/assert';
import { kubectlRefresh } from './support/client';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { openSeeder, readFamilyRow } from './support/seed';

let server: KubegateServer;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ reuseGrace: 2 }, 'kubegate-restore-'));
  await server.start();
});

afterAll(async () => {
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

async function refreshed(token: string): Promise<string> {
  const r = await kubectlRefresh(server.url, 'kubernetes', '', token);
  expect(r.status, r.text).toBe(200);
  return r.json.refresh_token as string;
}

async function mint() {
  const seeder = await openSeeder(server.files.configPath);
  try {
    return await seeder.mint('prod');
  } finally {
    await seeder.close();
  }
}

describe('backup and restore', () => {
  it('restoring a backup taken while serving brings no spent token back: neither the token spent since nor the then-head works', async () => {
    const { configPath, dbPath, dir } = server.files;
    const minted = await mint();
    const t1 = await refreshed(minted.refreshToken);

    const copy = path.join(dir, 'backup.db');
    const backup = await runKubegate(configPath, 'backup', copy);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^backed up .*kubegate\.db to .*backup\.db \(\d+ bytes, write count \d+\)/);
    expect(fs.statSync(copy).mode & 0o777).toBe(0o600);

    // The holder refreshes on after the backup: t1 spent, t2 the head.
    const t2 = await refreshed(t1);

    // The operator's restore: stop, put the copy in place (without the old WAL), start.
    await server.kill('SIGTERM');
    fs.copyFileSync(copy, dbPath);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(dbPath + suffix, { force: true });
    await server.start();
    expect(server.tail()).toMatch(/"level":"warn","msg":"the database is a restore/);

    // In the copy t1 was unspent: it must not work, nor the head the holder has, nor the first token.
    for (const t of [t1, t2, minted.refreshToken]) expectOAuthError(await kubectlRefresh(server.url, 'kubernetes', '', t), 400, 'invalid_grant');
    expect(readFamilyRow(dbPath, minted.family.id)).toMatchObject({ revoke_reason: 'restored' });

    const audit = await runKubegate(configPath, 'audit', '--kind', 'store.restored');
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/store\.restored.*"reason":"behind_watermark"/);

    // Signing in again works.
    await refreshed((await mint()).refreshToken);
  });

  it('kubegate restore (a snapshot that brought the watermark back too) revokes everything issued before it, while the server runs', async () => {
    const minted = await mint();
    const t1 = await refreshed(minted.refreshToken);
    const reset = await runKubegate(server.files.configPath, 'restore');
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toMatch(/^revoked \d+ sign-in\(s\) and \d+ credential\(s\) and withdrew \d+ signing key\(s\)/);
    expectOAuthError(await kubectlRefresh(server.url, 'kubernetes', '', t1), 400, 'invalid_grant');
  });

  it('refuses to overwrite a file with a backup', async () => {
    const target = path.join(server.files.dir, 'exists.db');
    fs.writeFileSync(target, 'keep me');
    const r = await runKubegate(server.files.configPath, 'backup', target);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already exists; a backup never overwrites a file');
    expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
  });
});
