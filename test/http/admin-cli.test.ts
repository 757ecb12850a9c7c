/** `npm run kubegate -- ...`: the admin command, against the same store the running server uses. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlRefresh } from './support/client';
import { PROJECT_DIR } from './support/kubegate';
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

  // rotate-key (publishes now, old key signs until then, `keys` shows it as next, a second one does not stack):
  // test/http/key-rotation.test.ts, which waits for the switch anyway; it needed a server of its own here.

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
