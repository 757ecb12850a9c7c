/** `npm run kubegate -- ...`: the admin command, against the same store the running server uses. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlRefresh } from './support/client';
import { KubegateServer, prepareKubegate, PROJECT_DIR } from './support/kubegate';
import { openSeeder, type Seeder } from './support/seed';

const { issuer, configPath } = inject('kubegate');
let seeder: Seeder;

beforeAll(async () => {
  seeder = await openSeeder(configPath);
});
afterAll(async () => {
  await seeder?.close();
});

function kubegate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return kubegateWith(configPath, ...args);
}

function kubegateWith(config: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(PROJECT_DIR, 'scripts/kubegate.mjs'), ...args], { env: { ...process.env, KUBEGATE_CONFIG: config } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the admin command', () => {
  it('lists active sessions and, for offboarding, revokes every session of a user: their tokens stop refreshing', async () => {
    const who = await seeder.signIn('leaver', ['developers']);
    const minted = await seeder.mint('prod', who);
    const listed = await kubegate('sessions', '--user', 'leaver');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(who.session.id);
    expect(listed.stdout).toMatch(/leaver\s+local/);

    const revoked = await kubegate('revoke-user', 'leaver');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('revoked 1 session(s) of leaver');
    const r = await kubectlRefresh(issuer, 'kubernetes', '', minted.refreshToken);
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('invalid_grant');

    const audit = await kubegate('audit', '--kind', 'session.revoked', '--limit', '5');
    expect(audit.stdout).toMatch(/session\.revoked\s+leaver/);
    expect(audit.stdout).not.toMatch(/kgr_|eyJ/);
  });

  it('rotate-key publishes the next key now and says when it starts signing; until then the old key signs', async () => {
    // Its own server: a rotation must not change the keys other test files see.
    // (The switch itself, under load, is test/http/key-rotation.test.ts.)
    const files = await prepareKubegate({}, 'kubegate-rotate-');
    const server = new KubegateServer(files);
    await server.start();
    const own = await openSeeder(files.configPath);
    try {
      const before = own.keys.current().kid;
      const out = await kubegateWith(files.configPath, 'rotate-key');
      expect(out.code, out.stderr).toBe(0);
      const kid = /published signing key (\S+) now/.exec(out.stdout)?.[1];
      expect(out.stdout).toMatch(/it starts signing at \S+Z, in 15 min \(signing\.publish_ahead\)/);
      const next = (await own.store.listSigningKeys()).find((k) => k.kid === kid)!;
      expect(next.activates_at - next.created_at).toBe(15 * 60_000);
      // The running server publishes it within its sync interval, and keeps signing with the old key.
      const jwksUrl = `${files.issuer}/oidc/jwks`;
      const deadline = Date.now() + 7_000;
      let kids: string[] = [];
      while (Date.now() < deadline) {
        kids = ((await (await fetch(jwksUrl)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
        if (kids.includes(kid!)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(kids).toEqual([kid, before]);
      const minted = await own.mint('prod');
      const r = await kubectlRefresh(files.issuer, 'kubernetes', '', minted.refreshToken);
      expect(r.status).toBe(200);
      expect(decodeProtectedHeader(r.json.id_token as string).kid).toBe(before);
      await jwtVerify(r.json.id_token as string, createRemoteJWKSet(new URL(jwksUrl)), { issuer: files.issuer, audience: 'kubernetes' });
      const listed = await kubegateWith(files.configPath, 'keys');
      expect(listed.stdout).toMatch(new RegExp(`^${kid}\\s+RS256\\s+next\\s+yes`, 'm'));
      expect(listed.stdout).toMatch(new RegExp(`^${before}\\s+RS256\\s+signing\\s+yes`, 'm'));
      // A second rotate-key does not stack another key.
      const again = await kubegateWith(files.configPath, 'rotate-key');
      expect(again.stdout).toContain(`signing key ${kid} is already published`);
    } finally {
      await own.close();
      await server.stop();
    }
  });

  // Regression: a failed sign-in as `ESC]0;…BEL` wrote that escape sequence into the admin's terminal.
  it('shows stored usernames with control characters escaped, and exactly with --json', async () => {
    const hostile = '\u001b]0;owned\u0007\u009b2J\u202eevil';
    await seeder.store.appendAudit({ kind: 'session.login_failed', username: hostile, client_ip: '203.0.113.9', details: { upstream: 'local', reason: 'bad_credentials' } }, Date.now());

    const text = await kubegate('audit', '--kind', 'session.login_failed', '--limit', '5');
    expect(text.code, text.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(text.stdout).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
    expect(text.stdout).toContain('\\x1b]0;owned\\x07\\x9b2J\\u202eevil');
    expect(text.stdout.split('\n')[0]).toMatch(/^TIME\s+KIND\s+USER\s+CLUSTER\s+FROM\s+DETAILS$/);

    const json = await kubegate('audit', '--kind', 'session.login_failed', '--limit', '5', '--json');
    expect(json.code, json.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(json.stdout).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
    const events = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { kind: string; user: string; client_ip: string });
    expect(events.at(-1)).toMatchObject({ kind: 'session.login_failed', user: hostile, client_ip: '203.0.113.9' });

    const who = await seeder.signIn('json-lister', ['developers']);
    const sessions = await kubegate('sessions', '--user', 'json-lister', '--json');
    expect(sessions.code, sessions.stderr).toBe(0);
    expect(sessions.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { session: string })).toEqual([
      expect.objectContaining({ session: who.session.id, user: 'json-lister' }),
    ]);
  });

  it('refuses an unknown --kind or option, listing what is valid, without a stack trace', async () => {
    const kind = await kubegate('audit', '--kind', 'token.reuse');
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain('unknown audit kind "token.reuse"');
    expect(kind.stderr).toContain('  token.reuse_detected');
    expect(kind.stderr).not.toMatch(/\n\s+at /);
    const option = await kubegate('sessions', '--colour');
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--colour'");
    expect(option.stderr).not.toMatch(/\n\s+at /);
  });

  it('says what is wrong, with a non-zero exit', async () => {
    const unknown = await kubegate('frobnicate');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const missing = await kubegate('revoke-session', 'no-such-id');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no session no-such-id');
  });
});
