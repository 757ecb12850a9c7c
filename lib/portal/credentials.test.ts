import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALICE, MINUTE, openTestEnv, type TestEnv } from '../../test/support/fixtures';
import { credentialDeps, issueClusterCredential, NoAccessError, revokeCredential, revokeSession, revokeUserEverywhere } from './credentials';

const BOB = { ...ALICE, subject: 'bob-subject', username: 'bob', email: 'bob@example.com' };

describe('portal data layer', () => {
  let env: TestEnv;
  beforeEach(async () => {
    env = await openTestEnv();
  });
  afterEach(() => env.close());

  it('issues a credential labelled with where it came from, built for the cluster', async () => {
    const who = await env.signIn();
    const issued = await issueClusterCredential(credentialDeps(env.rt), { ...who, clusterName: 'prod', clientIp: '192.0.2.1', origin: 'download' });
    expect(issued.spec.user.refreshToken).toBe(issued.minted.refreshToken);
    expect(issued.spec.cluster.server).toBe(env.cluster('prod').server);
    expect(await env.store.getFamily(issued.minted.family.id)).toMatchObject({ origin: 'download', cluster: 'prod' });
    const [event] = await env.store.listAudit({ limit: 1, kind: 'token.issued' });
    expect(event).toMatchObject({ client_ip: '192.0.2.1', details: { origin: 'download' } });
  });

  it('refuses an unknown cluster and an ended session with NoAccessError, minting nothing', async () => {
    const who = await env.signIn();
    const deps = credentialDeps(env.rt);
    await expect(issueClusterCredential(deps, { ...who, clusterName: 'nope', origin: 'page' })).rejects.toMatchObject({ reason: 'cluster_not_allowed' });
    await revokeSession(deps, who.session.id, 'sign_out', { kind: 'user', user: who.user, sessionId: who.session.id });
    const ended = (await env.store.getLoginSession(who.session.id))!;
    await expect(issueClusterCredential(deps, { ...ended, clusterName: 'prod', origin: 'page' })).rejects.toBeInstanceOf(NoAccessError);
    expect(await env.store.listFamilies({ userId: who.user.id })).toEqual([]);
  });

  it("never lets one person revoke another's session or credential: it looks like nothing is there", async () => {
    const alice = await env.signIn();
    const bob = await env.signIn(BOB);
    const bobs = await env.mint('prod', bob);
    const asAlice = { kind: 'user' as const, user: alice.user, sessionId: alice.session.id };
    expect(await revokeSession(env.rt, bob.session.id, 'revoked_by_user', asAlice)).toBe('not_found');
    expect(await revokeCredential(env.rt, bobs.family.id, 'revoked_by_user', asAlice)).toBe('not_found');
    expect((await env.store.getFamily(bobs.family.id))!.revoked_at).toBeNull();
    expect((await env.store.getLoginSession(bob.session.id))!.session.revoked_at).toBeNull();
  });

  it('records the reason and the matching audit kind, once', async () => {
    const who = await env.signIn();
    const cred = await env.mint('prod', who);
    const me = { kind: 'user' as const, user: who.user, sessionId: who.session.id };
    expect(await revokeCredential(env.rt, cred.family.id, 'revoked_by_user', me)).toBe('revoked');
    expect(await revokeCredential(env.rt, cred.family.id, 'revoked_by_user', me)).toBe('already_revoked');
    expect(await env.store.getFamily(cred.family.id)).toMatchObject({ revoke_reason: 'revoked_by_user' });
    expect(await env.store.listAudit({ limit: 10, kind: 'family.revoked' })).toHaveLength(1);

    expect(await revokeSession(env.rt, who.session.id, 'sign_out', me)).toBe('revoked');
    expect((await env.store.getLoginSession(who.session.id))!.session.revoke_reason).toBe('sign_out');
    expect(await env.store.listAudit({ limit: 10, kind: 'session.logout' })).toHaveLength(1);
  });

  it('offboards a user everywhere, leaving others alone', async () => {
    const a1 = await env.signIn();
    env.clock.advance(MINUTE);
    const a2 = await env.signIn();
    const bob = await env.signIn(BOB);
    const n = await revokeUserEverywhere(env.rt, 'alice', 'offboarded', { kind: 'admin', by: 'test' });
    expect(n).toBe(2);
    for (const s of [a1, a2]) expect((await env.store.getLoginSession(s.session.id))!.session.revoke_reason).toBe('offboarded');
    expect((await env.store.getLoginSession(bob.session.id))!.session.revoked_at).toBeNull();
    expect(await env.store.listAudit({ limit: 10, kind: 'user.offboarded' })).toHaveLength(2);
  });
});
