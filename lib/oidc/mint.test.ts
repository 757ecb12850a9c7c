import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LoginSession, User } from '../store/types';
import { ALICE, MINUTE, openTestEnv, SECOND, storeSnapshot, type TestEnv } from '../../test/support/fixtures';
import { mintCredential, NoAccessError } from './mint';
import { hashRefreshToken, isWellFormedRefreshToken } from './refresh-tokens';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const BOB = { upstream: 'corp', subject: 'bob-sub', username: 'bob', groups: ['dev'] };

function deps() {
  return { issuer: env.config.issuer.url, store: env.store, keys: env.rt.keys, idTokenLifetimeSeconds: 60, now: env.clock.now };
}

describe('mintCredential', () => {
  it('creates a family bound to the session and the cluster audience, with a gen-0 token and an id_token', async () => {
    const s = await env.signIn(ALICE, { lifetimeMs: 8 * 60 * MINUTE });
    env.clock.advance(5 * SECOND);
    const m = await mintCredential(deps(), { ...s, cluster: env.cluster('staging'), clientIp: '198.51.100.7', origin: 'page' });

    expect(isWellFormedRefreshToken(m.refreshToken)).toBe(true);
    expect(m.family).toMatchObject({ login_session_id: s.session.id, user_id: s.user.id, cluster: 'staging', client_id: 'staging', expires_at: s.session.expires_at, generation: 0 });
    const ctx = await env.store.findRefreshContext(hashRefreshToken(m.refreshToken));
    expect(ctx?.token).toMatchObject({ family_id: m.family.id, generation: 0, used_at: null });
    expect(await env.store.listAudit({ limit: 1 })).toEqual([
      expect.objectContaining({ kind: 'token.issued', family_id: m.family.id, user_id: s.user.id, username: 'alice', cluster: 'staging', client_ip: '198.51.100.7', details: { origin: 'page' } }),
    ]);

    const { payload } = await jwtVerify(m.idToken, createLocalJWKSet(JSON.parse(env.rt.keys.jwksJson())), {
      issuer: env.config.issuer.url,
      audience: 'staging',
      currentDate: new Date(env.clock.now()),
    });
    expect(payload).toMatchObject({ sub: s.user.id, aud: 'staging', exp: Math.floor(env.clock.now() / 1000) + 60 });
    expect(m.idTokenExpiresAt).toBe(env.clock.now() + 60 * SECOND);
  });

  it('gives every mint its own family and token', async () => {
    const s = await env.signIn();
    const a = await env.mint('prod', s);
    const b = await env.mint('prod', s);
    expect(a.family.id).not.toBe(b.family.id);
    expect(a.refreshToken).not.toBe(b.refreshToken);
    expect(await env.store.listFamilies({ loginSessionId: s.session.id })).toHaveLength(2);
  });

  const refusals: Array<[string, () => Promise<{ user: User; session: LoginSession }>, string, 'session_inactive' | 'cluster_not_allowed']> = [
    ['a cluster outside the user\'s groups', () => env.signIn(BOB), 'prod', 'cluster_not_allowed'],
    ['a user with no groups, on a restricted cluster', () => env.signIn({ ...BOB, groups: [] }), 'prod', 'cluster_not_allowed'],
    ['a group name differing only in case', () => env.signIn({ ...BOB, groups: ['OPS'] }), 'prod', 'cluster_not_allowed'],
    [
      'a revoked session',
      async () => {
        const s = await env.signIn();
        await env.store.revokeLoginSession(s.session.id, 'sign_out', env.clock.now(), { kind: 'session.logout' });
        return { user: s.user, session: (await env.store.getLoginSession(s.session.id))!.session };
      },
      'staging',
      'session_inactive',
    ],
    [
      'a session at its expiry instant',
      async () => {
        const s = await env.signIn(ALICE, { lifetimeMs: MINUTE });
        env.clock.advance(MINUTE);
        return s;
      },
      'staging',
      'session_inactive',
    ],
    [
      'an expired session, even on an allowed cluster',
      async () => {
        const s = await env.signIn(ALICE, { lifetimeMs: MINUTE });
        env.clock.advance(MINUTE + 1);
        return s;
      },
      'prod',
      'session_inactive',
    ],
  ];

  it.each(refusals)('refuses %s with NoAccessError and writes nothing', async (_, signIn, cluster, reason) => {
    const s = await signIn();
    const before = await storeSnapshot(env.store);
    const err = await mintCredential(deps(), { ...s, cluster: env.cluster(cluster), origin: 'page' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAccessError);
    expect(err).toMatchObject({ reason });
    expect(await storeSnapshot(env.store)).toBe(before);
  });

  it('lets a user of an unrestricted cluster in whatever their groups', async () => {
    const s = await env.signIn({ ...BOB, groups: [] });
    await expect(mintCredential(deps(), { ...s, cluster: env.cluster('staging'), origin: 'page' })).resolves.toMatchObject({ family: { cluster: 'staging' } });
  });

  it('mints nothing before a required second factor: a group the policy names, or a cluster that asks', async () => {
    const policy = { everyone: false, groups: ['admins'] };
    const admin = await env.signIn({ ...BOB, subject: 'adm', groups: ['admins'] }, { amr: ['pwd'] });
    const before = await storeSnapshot(env.store);
    await expect(mintCredential({ ...deps(), mfaPolicy: policy }, { ...admin, cluster: env.cluster('staging'), origin: 'page' })).rejects.toMatchObject({ reason: 'mfa_required' });
    const dev = await env.signIn({ ...BOB, groups: [] }, { amr: ['pwd'] });
    const stepUp = { ...env.cluster('staging'), require_mfa: true };
    await expect(mintCredential({ ...deps(), mfaPolicy: policy }, { ...dev, cluster: stepUp, origin: 'page' })).rejects.toBeInstanceOf(NoAccessError);
    expect(await storeSnapshot(env.store)).not.toBe('');
    const withMfa = await env.signIn({ ...BOB, subject: 'adm', groups: ['admins'] }, { amr: ['pwd', 'otp', 'mfa'] });
    const m = await mintCredential({ ...deps(), mfaPolicy: policy }, { ...withMfa, cluster: stepUp, origin: 'page' });
    const { payload } = await jwtVerify(m.idToken, createLocalJWKSet(JSON.parse(env.rt.keys.jwksJson())), { currentDate: new Date(env.clock.now()) });
    expect(payload).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: 'aal2' });
    void before;
  });
});
