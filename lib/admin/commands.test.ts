import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestEnv, type TestEnv } from '../../test/support/fixtures';
import { AdminError, listSessions, revokeSession, revokeUser, showAudit } from './commands';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

describe('admin commands', () => {
  it('lists active sessions with their live credentials, filtered by user', async () => {
    const minted = await env.mint('prod');
    const lines = await listSessions(env.store, { now: env.clock.now() });
    expect(lines[0]).toMatch(/^SESSION\s+USER\s+UPSTREAM/);
    expect(lines.join('\n')).toContain(minted.family.login_session_id);
    expect(await listSessions(env.store, { now: env.clock.now(), username: 'nobody' })).toEqual(['no active sessions for nobody']);
  });

  it('revokes one session, then says it already was; an unknown id is an error', async () => {
    const minted = await env.mint('prod');
    const id = minted.family.login_session_id;
    expect((await revokeSession(env.store, id, env.clock.now()))[0]).toMatch(/^revoked session/);
    expect((await env.store.getFamily(minted.family.id))!.revoked_at).not.toBeNull();
    expect((await revokeSession(env.store, id, env.clock.now()))[0]).toMatch(/already revoked/);
    await expect(revokeSession(env.store, 'nope', env.clock.now())).rejects.toThrow(AdminError);
  });

  it('revokes every session of a user and audits it, never printing a token', async () => {
    const a = await env.mint('prod');
    const user = (await env.store.getLoginSession(a.family.login_session_id))!.user;
    expect(await revokeUser(env.store, user.username, env.clock.now())).toEqual([
      `revoked 1 session(s) of ${user.username} and every credential minted from them`,
    ]);
    const audit = (await showAudit(env.store, { limit: 10 })).join('\n');
    expect(audit).toContain('session.revoked');
    expect(audit).not.toContain(a.refreshToken);
    expect(audit).not.toContain(a.idToken);
  });
});
