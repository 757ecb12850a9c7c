/**
 * Identity kept fresh, through the real token endpoint (the runtime, the
 * store, the refresh policy and the signer): what kubectl sees when a
 * person changes upstream. The connector is the one fake here: it stands
 * for "the upstream says", which is the engine's contract.
 */
import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bodyOf, MINUTE, openTestEnv, SECOND, storeSnapshot, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { resolveWebSession, webSessionPolicy, type WebSessionDeps } from '../auth/web-session';
import { revokeSession } from '../portal/credentials';
import type { User, UserProfile } from '../store/types';
import type { RecheckingConnector } from './recheck';
import type { RecheckOutcome } from './types';

/** A person at the `corp` upstream (OIDC in ENDPOINT_CONFIG_YAML: re-check every 5 min, 15 min grace). */
const CAROL: UserProfile = { upstream: 'corp', subject: 'carol-sub', username: 'corp:carol', email: 'carol@example.com', name: 'Carol', groups: ['ops', 'dev'] };

class Upstream implements RecheckingConnector {
  calls = 0;
  /** What the upstream says about Carol now. */
  says: RecheckOutcome = { status: 'active', identity: CAROL };
  recheck(_config: never, user: User): Promise<RecheckOutcome> {
    this.calls++;
    expect(user.subject).toBe('carol-sub');
    return Promise.resolve(this.says);
  }
}

let env: TestEnv;
let upstream: Upstream;
beforeEach(async () => {
  upstream = new Upstream();
  env = await openTestEnv({ connectorFor: (u) => (u.id === 'corp' ? upstream : undefined) });
});
afterEach(async () => {
  await env.close();
});

/** kubectl's refresh: the new tokens, or the refusal. */
async function refresh(token: string) {
  const res = await env.refresh(token);
  if (res.status !== 200) return { status: res.status, error: bodyOf<{ error: string; error_description: string }>(res) };
  const body = bodyOf<TokenSuccess>(res);
  return { status: 200, token: body.refresh_token, groups: decodeJwt(body.id_token).groups as string[] };
}
const rechecks = async () => (await env.store.listAudit({ limit: 100 })).filter((e) => e.kind.startsWith('user.')).map((e) => [e.kind, e.details.result ?? e.details.by]);

describe('re-check at refresh, through the token endpoint', () => {
  it('asks the upstream nothing and writes nothing beyond the rotation while no check is due', async () => {
    const minted = await env.mint('prod', await env.signIn(CAROL));
    let token = minted.refreshToken;
    for (let i = 0; i < 4; i++) {
      env.clock.advance(MINUTE);
      const r = await refresh(token);
      expect(r.status).toBe(200);
      token = r.token!;
    }
    expect(upstream.calls).toBe(0);
    expect(await rechecks()).toEqual([]);
    // The person's row is untouched by those refreshes.
    expect(await env.store.getUser(minted.user.id)).toEqual(minted.user);
  });

  it('a group removed upstream is gone from the next id_token after the interval; removing the cluster\'s group refuses', async () => {
    const minted = await env.mint('prod', await env.signIn(CAROL));
    upstream.says = { status: 'active', identity: { ...CAROL, groups: ['ops'] } };
    env.clock.advance(5 * MINUTE - SECOND);
    const before = await refresh(minted.refreshToken);
    expect(before.groups).toEqual(['ops', 'dev']); // not due yet
    expect(upstream.calls).toBe(0);

    env.clock.advance(SECOND);
    const after = await refresh(before.token!);
    expect(after).toMatchObject({ status: 200, groups: ['ops'] });
    expect(upstream.calls).toBe(1);
    const [event] = await env.store.listAudit({ limit: 1, kind: 'user.rechecked' });
    expect(event).toMatchObject({ cluster: 'prod', details: { upstream: 'corp', result: 'active', groups_added: [], groups_removed: ['dev'] } });

    // prod is for group ops only: losing it upstream loses the cluster at the next check.
    upstream.says = { status: 'active', identity: { ...CAROL, groups: ['dev'] } };
    env.clock.advance(5 * MINUTE);
    const refused = await refresh(after.token!);
    expect(refused.status).toBe(400);
    expect(refused.error!.error_description).toMatch(/groups no longer give you access/);
  });

  it('gone upstream: the refresh is refused, every credential and sign-in of the person revoked, and audited', async () => {
    const first = await env.mint('prod', await env.signIn(CAROL));
    const second = await env.mint('staging', await env.signIn(CAROL));
    const alice = await env.mint('prod'); // a local user, untouched
    upstream.says = { status: 'gone', reason: 'account disabled' };
    env.clock.advance(5 * MINUTE);
    const r = await refresh(first.refreshToken);
    expect(r.status).toBe(400);
    expect(r.error).toEqual({ error: 'invalid_grant', error_description: expect.stringMatching(/disabled or deleted at your sign-in provider/) });
    for (const m of [first, second]) {
      expect(await env.store.getFamily(m.family.id)).toMatchObject({ revoke_reason: 'offboarded' });
      expect((await env.store.getLoginSession(m.session.id))!.session.revoke_reason).toBe('offboarded');
    }
    expect((await env.store.getFamily(alice.family.id))!.revoked_at).toBeNull();
    expect(await rechecks()).toEqual([
      ['user.rechecked', 'gone'],
      ['user.offboarded', 'recheck'],
      ['user.offboarded', 'recheck'],
    ]);
    // The other credential is refused as revoked, without asking the upstream again.
    const other = await env.refresh(second.refreshToken, 'staging');
    expect(bodyOf(other)).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/revoked \(your account was removed\)/) });
    expect(upstream.calls).toBe(1);
  });

  it('upstream down: refreshes work within the grace, are refused after it without revoking, and work again once it is back', async () => {
    const minted = await env.mint('prod', await env.signIn(CAROL));
    upstream.says = { status: 'unavailable', reason: 'ldap: connection refused' };
    let token = minted.refreshToken;
    for (const step of [5 * MINUTE, 5 * MINUTE, 9 * MINUTE]) {
      env.clock.advance(step); // 5, 10, 19 min: failing since 5 min, within the 15 min grace
      const r = await refresh(token);
      expect(r).toMatchObject({ status: 200, groups: ['ops', 'dev'] });
      token = r.token!;
    }
    env.clock.advance(MINUTE); // failing for 15 min: fail closed
    const refused = await refresh(token);
    expect(refused.status).toBe(400);
    expect(refused.error!.error_description).toMatch(/has not been reachable.*nothing was revoked/);
    // Refused within the retry pause: the stored verdict, no upstream call, nothing written.
    const snapshot = await storeSnapshot(env.store);
    env.clock.advance(10 * SECOND);
    expect((await refresh(token)).status).toBe(400);
    expect(await storeSnapshot(env.store)).toBe(snapshot);
    expect(upstream.calls).toBe(4);
    expect((await env.store.getFamily(minted.family.id))!.revoked_at).toBeNull();
    expect((await env.store.listAudit({ limit: 5, kind: 'user.recheck_failed' })).map((e) => e.details.decision)).toEqual(['refused', 'kept', 'kept', 'kept']);

    upstream.says = { status: 'active', identity: CAROL };
    env.clock.advance(MINUTE);
    const back = await refresh(token); // the same token: a refusal consumed nothing
    expect(back).toMatchObject({ status: 200, groups: ['ops', 'dev'] });
    expect(await env.store.getUser(minted.user.id)).toMatchObject({ checked_at: env.clock.now(), check_failing_since: null });
  });

  it('asks the upstream once when several clusters refresh at the same moment', async () => {
    const s = await env.signIn(CAROL);
    const a = await env.mint('prod', s);
    const b = await env.mint('staging', s);
    env.clock.advance(5 * MINUTE);
    const [ra, rb] = await Promise.all([env.refresh(a.refreshToken), env.refresh(b.refreshToken, 'staging')]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(upstream.calls).toBe(1);
  });
});

describe('re-check on portal pages', () => {
  /** What every portal page does with the session behind its cookie (lib/portal/session.ts). */
  const page = (sessionId: string) => {
    const deps: WebSessionDeps = {
      store: env.store,
      now: env.clock.now,
      config: env.config,
      policy: webSessionPolicy(24 * 3600),
      rechecker: env.rt.rechecker,
      offboard: (id) => revokeSession(env.rt, id, 'offboarded', { kind: 'admin', by: 'configuration' }),
    };
    return resolveWebSession(deps, sessionId);
  };

  it('shows the groups the upstream gives now, signs out without revoking while it is down past the grace, and ends a gone person', async () => {
    const { session } = await env.signIn(CAROL);
    upstream.says = { status: 'active', identity: { ...CAROL, groups: ['ops'] } };
    env.clock.advance(5 * MINUTE);
    expect(await page(session.id)).toMatchObject({ status: 'active', user: { groups: ['ops'] } });

    upstream.says = { status: 'unavailable', reason: 'down' };
    env.clock.advance(5 * MINUTE);
    expect((await page(session.id)).status).toBe('active');
    env.clock.advance(15 * MINUTE);
    expect(await page(session.id)).toEqual({ status: 'ended', reason: 'upstream_unavailable' });
    expect((await env.store.getLoginSession(session.id))!.session.revoked_at).toBeNull();

    upstream.says = { status: 'gone', reason: 'deleted' };
    env.clock.advance(MINUTE);
    expect(await page(session.id)).toEqual({ status: 'ended', reason: 'offboarded' });
    expect((await env.store.getLoginSession(session.id))!.session.revoke_reason).toBe('offboarded');
  });
});
