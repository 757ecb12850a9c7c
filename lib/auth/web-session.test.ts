import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HOUR, LOCAL_PASSWORD_HASH, MINUTE, openTestEnv, parseTestConfig, SECOND, type TestEnv } from '../../test/support/fixtures';
import { revokeSession } from '../portal/credentials';
import type { ResolvedConfig } from '../config/load';
import { decideWebSession, resolveWebSession, webSessionPolicy, type WebSessionDeps } from './web-session';

const YAML = `
issuer:
  url: https://kubegate.example.com
storage:
  sqlite:
    path: unused.db
clusters:
  - name: prod
    server: https://prod.example.com
    client_id: kubernetes
upstreams:
  - id: local
    type: local
users:
  - username: alice
    password_hash: "${LOCAL_PASSWORD_HASH}"
    groups: [ops, dev]
`;
const ALICE = { upstream: 'local', subject: 'alice', username: 'alice', groups: ['ops', 'dev'] };

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv({ yaml: YAML });
});
afterEach(async () => {
  await env.close();
});

/** What every portal page does with the session behind its cookie, against `config` (default: the running one). */
function deps(config: Pick<ResolvedConfig, 'upstreams' | 'users'> = env.config): WebSessionDeps {
  return {
    store: env.store,
    now: env.clock.now,
    config,
    policy: webSessionPolicy(env.config.issuer.web_session_idle_timeout),
    offboard: (id) => revokeSession(env.rt, id, 'offboarded', { kind: 'admin', by: 'configuration' }),
  };
}
const lastSeen = async (id: string) => (await env.store.getLoginSession(id))!.session.last_seen_at;

describe('web session idle timeout', () => {
  it('defaults to one hour', () => {
    expect(env.config.issuer.web_session_idle_timeout).toBe(3600);
  });

  it('records activity at most once a minute, not on every page view', async () => {
    const { session } = await env.signIn(ALICE);
    const t0 = env.clock.now();
    for (let i = 0; i < 5; i++) {
      env.clock.advance(10 * SECOND);
      expect((await resolveWebSession(deps(), session.id)).status).toBe('active');
    }
    expect(await lastSeen(session.id)).toBe(t0);
    env.clock.advance(10 * SECOND); // 60 s after sign-in
    await resolveWebSession(deps(), session.id);
    expect(await lastSeen(session.id)).toBe(t0 + MINUTE);
  });

  it('a browser used every 59 minutes stays signed in; one left alone for an hour is signed out', async () => {
    const { session } = await env.signIn(ALICE);
    for (let i = 0; i < 5; i++) {
      env.clock.advance(59 * MINUTE);
      expect((await resolveWebSession(deps(), session.id)).status).toBe('active');
    }
    env.clock.advance(HOUR);
    expect(await resolveWebSession(deps(), session.id)).toEqual({ status: 'ended', reason: 'session_idle' });
  });

  it('ends the browser session only: credentials minted from it keep working (they have their own idle timeout)', async () => {
    const signin = await env.signIn(ALICE);
    const minted = await env.mint('prod', signin);
    env.clock.advance(HOUR);
    expect(await resolveWebSession(deps(), signin.session.id)).toEqual({ status: 'ended', reason: 'session_idle' });
    expect((await env.store.getFamily(minted.family.id))!.revoked_at).toBeNull();
    expect((await env.store.getLoginSession(signin.session.id))!.session.revoked_at).toBeNull();
  });

  it('the absolute end still applies to a busy browser', async () => {
    const { session } = await env.signIn(ALICE, { lifetimeMs: 2 * HOUR });
    for (let i = 0; i < 3; i++) {
      env.clock.advance(35 * MINUTE);
      expect((await resolveWebSession(deps(), session.id)).status).toBe('active');
    }
    env.clock.advance(15 * MINUTE);
    expect(await resolveWebSession(deps(), session.id)).toEqual({ status: 'ended', reason: 'session_ended' });
  });

  it('a revoked or unknown session is ended', async () => {
    const { session } = await env.signIn(ALICE);
    await env.store.revokeLoginSession(session.id, 'revoked_by_user', env.clock.now(), { kind: 'session.revoked' });
    expect(await resolveWebSession(deps(), session.id)).toEqual({ status: 'ended', reason: 'session_ended' });
    expect(await resolveWebSession(deps(), 'no-such-session')).toEqual({ status: 'ended', reason: 'session_ended' });
  });

  it('a clock stepped back is not idleness', async () => {
    const { session, user } = await env.signIn(ALICE);
    const d = await decideWebSession({ session, user }, env.config, session.last_seen_at - 5 * MINUTE, webSessionPolicy(3600));
    expect(d).toMatchObject({ status: 'active', touch: false });
  });

  it('records activity often enough for a short timeout', () => {
    expect(webSessionPolicy(3600)).toEqual({ idleTimeoutMs: HOUR, touchIntervalMs: MINUTE });
    expect(webSessionPolicy(120)).toEqual({ idleTimeoutMs: 2 * MINUTE, touchIntervalMs: 30 * SECOND });
  });
});

describe('offboarding through the config, page side', () => {
  it('a user removed from the config has their session revoked as offboarded, with every credential, and audited', async () => {
    const signin = await env.signIn(ALICE);
    const minted = await env.mint('prod', signin);
    const without = parseTestConfig(YAML.replace(/users:[\s\S]*$/, 'users: []\n'));
    expect(await resolveWebSession(deps(without), signin.session.id)).toEqual({ status: 'ended', reason: 'offboarded' });
    const row = (await env.store.getLoginSession(signin.session.id))!.session;
    expect(row.revoked_at).not.toBeNull();
    expect(row.revoke_reason).toBe('offboarded');
    expect((await env.store.getFamily(minted.family.id))!.revoked_at).not.toBeNull();
    expect((await env.store.listAudit({ limit: 5, kind: 'user.offboarded' })).map((e) => e.username)).toEqual(['alice']);
    // The next page says the same, from the stored reason.
    expect(await resolveWebSession(deps(without), signin.session.id)).toEqual({ status: 'ended', reason: 'offboarded' });
  });

  it('even when the browser left the session idle', async () => {
    const signin = await env.signIn(ALICE);
    env.clock.advance(2 * HOUR);
    const without = parseTestConfig(YAML.replace(/users:[\s\S]*$/, 'users: []\n'));
    expect(await resolveWebSession(deps(without), signin.session.id)).toEqual({ status: 'ended', reason: 'offboarded' });
    expect((await env.store.getLoginSession(signin.session.id))!.session.revoke_reason).toBe('offboarded');
  });

  it('a group removed from the config is gone at once: the page sees the current groups', async () => {
    const signin = await env.signIn(ALICE);
    const fewer = parseTestConfig(YAML.replace('groups: [ops, dev]', 'groups: [dev]'));
    const result = await resolveWebSession(deps(fewer), signin.session.id);
    expect(result.status).toBe('active');
    if (result.status !== 'active') throw new Error('unreachable');
    expect(result.user.groups).toEqual(['dev']);
    expect(result.user.id).toBe(signin.user.id);
    // Nothing was revoked: only what the person may reach changed.
    expect((await env.store.getLoginSession(signin.session.id))!.session.revoked_at).toBeNull();
  });
});
