import { describe as group, expect, it } from 'vitest';
import type { Entitlements } from '../auth/entitlements';
import type { RefreshContext } from '../store/types';
import { REPLICA_CLOCK_SKEW_MS, decideRefresh, describeRefusal, MAX_REPLAY_STEPS, type DenyReason, type RefreshDecision } from './refresh-policy';

const T = Date.UTC(2031, 0, 1);
const S = 1000;
const policy = { idleTimeoutMs: 15 * 60 * S, reuseGraceMs: 10 * S };
const K8S = { clientId: 'kubernetes', allowedGroups: [] as string[] };
const ACTIVE: Entitlements = { status: 'active', username: 'alice', groups: [] };

/** Head of generation 3, used a minute ago, in a live session. Overrides per row. */
function ctx(o: {
  used_at?: number | null;
  generation?: number;
  head?: number;
  last_used_at?: number;
  family_expires_at?: number;
  family_revoked_at?: number | null;
  session_expires_at?: number;
  session_revoked_at?: number | null;
  client_id?: string;
} = {}): RefreshContext {
  const generation = o.generation ?? 3;
  return {
    token: { hash: 'h', family_id: 'f', generation, created_at: T - 60 * S, used_at: o.used_at === undefined ? null : o.used_at },
    family: {
      id: 'f',
      login_session_id: 's',
      user_id: 'u',
      cluster: 'prod',
      client_id: o.client_id ?? 'kubernetes',
      origin: 'page',
      created_at: T - 3600 * S,
      last_used_at: o.last_used_at ?? T - 60 * S,
      expires_at: o.family_expires_at ?? T + 3600 * S,
      generation: o.head ?? generation,
      revoked_at: o.family_revoked_at ?? null,
      revoke_reason: o.family_revoked_at ? 'revoked_by_user' : null,
    },
    session: {
      id: 's',
      user_id: 'u',
      upstream: 'local',
      amr: ['pwd'],
      auth_time: T - 3600 * S,
      created_at: T - 3600 * S,
      expires_at: o.session_expires_at ?? T + 3600 * S,
      revoked_at: o.session_revoked_at ?? null,
      revoke_reason: null,
      client_ip: null,
      user_agent: null,
      last_seen_at: T - 60 * S,
    },
    user: { id: 'u', upstream: 'local', subject: 'sub', username: 'alice', email: null, name: null, groups: [], created_at: 0, updated_at: 0 },
  };
}

const rotate: RefreshDecision = { action: 'rotate' };
const revoke: RefreshDecision = { action: 'revoke_family' };
const deny = (reason: DenyReason): RefreshDecision => ({ action: 'deny', reason });
const replay = (steps: number): RefreshDecision => ({ action: 'replay', steps });

group('decideRefresh', () => {
  const rows: Array<[string, RefreshContext, RefreshDecision, string?]> = [
    ['the head, recently used family', ctx(), rotate],
    ['the gen-0 head of a family never used', ctx({ generation: 0, last_used_at: T }), rotate],

    // Audience binding comes first: another cluster's client learns nothing else.
    ['another client', ctx({ client_id: 'staging' }), deny('client_mismatch')],
    ['another client, even with a spent token', ctx({ used_at: T - 60 * S, head: 4, client_id: 'staging' }), deny('client_mismatch')],
    ['a client id differing only in case', ctx({ client_id: 'Kubernetes' }), deny('client_mismatch')],

    ['a revoked family', ctx({ family_revoked_at: T - S }), deny('family_revoked')],
    ['a revoked family, spent token (no second revoke)', ctx({ family_revoked_at: T - S, used_at: T - 60 * S, head: 4 }), deny('family_revoked')],
    ['a revoked login session', ctx({ session_revoked_at: T - S }), deny('session_revoked')],

    // Absolute expiry: the boundary instant is already expired.
    ['one ms before the family expires', ctx({ family_expires_at: T + 1 }), rotate],
    ['exactly at the family expiry', ctx({ family_expires_at: T }), deny('session_expired')],
    ['exactly at the session expiry', ctx({ session_expires_at: T }), deny('session_expired')],
    ['after the session expiry', ctx({ session_expires_at: T - 1 }), deny('session_expired')],
    ['a spent token after the session expiry', ctx({ session_expires_at: T, used_at: T - S, head: 4 }), deny('session_expired')],

    // Idle timeout: exactly the timeout is still alive.
    ['idle exactly the timeout', ctx({ last_used_at: T - policy.idleTimeoutMs }), rotate],
    ['idle one ms past the timeout', ctx({ last_used_at: T - policy.idleTimeoutMs - 1 }), deny('idle_timeout')],

    // Spent tokens: the grace window for racing or retried refreshes.
    ['spent just now, head is its successor', ctx({ used_at: T, head: 4 }), replay(1)],
    ['spent exactly at the grace limit', ctx({ used_at: T - policy.reuseGraceMs, head: 4 }), replay(1)],
    ['spent one ms past the grace', ctx({ used_at: T - policy.reuseGraceMs - 1, head: 4 }), revoke],
    ['spent long ago (a stolen copy)', ctx({ used_at: T - 3600 * S, head: 9 }), revoke],
    ['spent, and the head is not ahead of it', ctx({ used_at: T, head: 3 }), revoke],
    ['spent long ago by an idle family: reuse, not idle', ctx({ used_at: T - 3600 * S, last_used_at: T - 3600 * S, head: 4 }), revoke],

    // Regression: a clock stepped back since the token was spent gave a
    // negative age, which passed `age <= grace`: a spent token presented
    // after the window got the live head. Beyond replicas' clock skew, a
    // negative age is outside the grace.
    ['spent just past the skew in the future (clock stepped back)', ctx({ used_at: T + REPLICA_CLOCK_SKEW_MS + 1, head: 4 }), revoke],
    // Regression: two replicas racing on one token; the other replica's clock is a little ahead
    // (or this request read the time before the other committed): that is the race the grace is for.
    ['spent 1 ms in the future (another replica, a racing request)', ctx({ used_at: T + 1, head: 4 }), replay(1)],
    ['spent within the replicas’ clock skew', ctx({ used_at: T + REPLICA_CLOCK_SKEW_MS, head: 4 }), replay(1)],
    ['spent an hour in the future (clock stepped back)', ctx({ used_at: T + 3600 * S, head: 4 }), revoke],
    ['spent in the future, head many steps ahead', ctx({ used_at: T + 5 * S, generation: 2, head: 4 }), revoke],
    // A family last used "in the future" is not idle: rotation is unaffected.
    ['the head, family last used in the future', ctx({ last_used_at: T + 3600 * S }), rotate],
  ];
  for (let steps = 1; steps <= MAX_REPLAY_STEPS; steps++) {
    rows.push([`spent within grace, head ${steps} step(s) ahead`, ctx({ used_at: T - S, generation: 2, head: 2 + steps }), replay(steps)]);
  }
  rows.push([`spent within grace, head ${MAX_REPLAY_STEPS + 1} steps ahead`, ctx({ used_at: T - S, generation: 2, head: 2 + MAX_REPLAY_STEPS + 1 }), revoke]);

  it.each(rows)('%s', (_, c, expected) => {
    expect(decideRefresh(c, K8S, ACTIVE, T, policy)).toEqual(expected);
  });

  // Regression: access used to be checked only when minting, so removing a
  // group from allowed_groups left its kubeconfigs working until session end.
  // The groups are the person's CURRENT ones (from their source), not the
  // ones recorded at sign-in.
  it.each([
    ['no allowed_groups: everyone', [], ['dev'], rotate],
    ['one of the user groups is allowed', ['ops', 'dev'], ['dev'], rotate],
    ['none of the user groups is allowed any more', ['ops'], ['dev'], deny('cluster_not_allowed')],
    ['a user with no groups on a restricted cluster', ['ops'], [], deny('cluster_not_allowed')],
  ] as const)('allowed_groups re-checked on refresh: %s', (_, allowed, groups, expected) => {
    const c = ctx();
    c.user.groups = ['ops', 'dev']; // what was recorded at sign-in does not count
    expect(decideRefresh(c, { clientId: 'kubernetes', allowedGroups: allowed }, { ...ACTIVE, groups: [...groups] }, T, policy)).toEqual(expected);
  });

  it.each([
    ['a live head', ctx(), { action: 'offboard', reason: 'user_removed' }],
    ['a spent token within the grace', ctx({ used_at: T - S, head: 4 }), { action: 'offboard', reason: 'user_removed' }],
    ['an idle family', ctx({ last_used_at: T - 3600 * S }), { action: 'offboard', reason: 'user_removed' }],
    ['an already revoked family: stays a denial', ctx({ family_revoked_at: T - S }), deny('family_revoked')],
    ['an expired session: stays a denial', ctx({ session_expires_at: T }), deny('session_expired')],
    ['another client: audience binding first', ctx({ client_id: 'staging' }), deny('client_mismatch')],
  ] as const)('a person removed from their source is offboarded: %s', (_, c, expected) => {
    expect(decideRefresh(c, K8S, { status: 'removed', reason: 'user_removed' }, T, policy)).toEqual(expected);
  });

  it.each([
    ['a live head', ctx(), deny('upstream_unavailable')],
    ['an idle family', ctx({ last_used_at: T - 3600 * S }), deny('upstream_unavailable')],
    ['an already revoked family: that denial', ctx({ family_revoked_at: T - S }), deny('family_revoked')],
    ['another client: audience binding first', ctx({ client_id: 'staging' }), deny('client_mismatch')],
  ] as const)('an upstream unavailable past its grace is a denial, never a revocation: %s', (_, c, expected) => {
    expect(decideRefresh(c, K8S, { status: 'unavailable', reason: 'upstream_unavailable' }, T, policy)).toEqual(expected);
  });

  it('a person gone upstream is offboarded', () => {
    expect(decideRefresh(ctx(), K8S, { status: 'removed', reason: 'upstream_gone' }, T, policy)).toEqual({ action: 'offboard', reason: 'upstream_gone' });
  });

  it('allows 8 replay steps', () => {
    expect(MAX_REPLAY_STEPS).toBe(8);
  });

  it('with no grace window, any spent token revokes the family', () => {
    expect(decideRefresh(ctx({ used_at: T, head: 4 }), K8S, ACTIVE, T, { ...policy, reuseGraceMs: 0 })).toEqual(replay(1));
    expect(decideRefresh(ctx({ used_at: T - 1, head: 4 }), K8S, ACTIVE, T, { ...policy, reuseGraceMs: 0 })).toEqual(revoke);
  });
});

group('describeRefusal', () => {
  const o = { issuer: 'https://kubegate.example.com', policy };
  const revokedFamily = (reason: string) => {
    const c = ctx({ family_revoked_at: T - S });
    c.family.revoke_reason = reason;
    return c;
  };
  const revokedSession = (reason: string) => {
    const c = ctx({ session_revoked_at: T - S });
    c.session.revoke_reason = reason;
    return c;
  };
  // Regression: reuse detection said "its session has been revoked" while
  // only the credential (the refresh-token family) was.
  it.each([
    ['reuse detected now', { action: 'revoke_family' } as const, ctx(), 'this refresh token was already used; a copy of it may exist elsewhere, so this credential has been revoked; get a new one at https://kubegate.example.com'],
    ['a family revoked for reuse earlier', deny('family_revoked'), revokedFamily('refresh_token_reuse'), 'this credential has been revoked (a spent refresh token of it was presented again); get a new one at https://kubegate.example.com'],
    ['a family revoked on the Sessions page', deny('family_revoked'), revokedFamily('revoked_by_user'), 'this credential has been revoked (it was revoked on the Sessions page); get a new one at https://kubegate.example.com'],
    ['a family revoked by an admin', deny('family_revoked'), revokedFamily('revoked_by_admin'), 'this credential has been revoked (an administrator revoked it); get a new one at https://kubegate.example.com'],
    ['a family revoked for an unknown reason', deny('family_revoked'), revokedFamily('something-new'), 'this credential has been revoked (it was revoked); get a new one at https://kubegate.example.com'],
    ['a sign-in ended by signing out', deny('session_revoked'), revokedSession('sign_out'), 'the sign-in this credential came from has ended (you signed out); sign in again at https://kubegate.example.com'],
    ['an expired sign-in', deny('session_expired'), ctx(), 'the sign-in this credential came from has expired; sign in again at https://kubegate.example.com'],
    ['an idle credential', deny('idle_timeout'), ctx(), 'this credential expired after 15m without use; get a new one at https://kubegate.example.com'],
    ['another cluster', deny('client_mismatch'), ctx(), 'the refresh token was not issued to this client (it belongs to another cluster)'],
    ['groups no longer allowed', deny('cluster_not_allowed'), ctx(), 'your groups no longer give you access to this cluster'],
    ['a removed user', { action: 'offboard', reason: 'user_removed' } as const, ctx(), 'your account has been removed from Kubegate; this credential has been revoked'],
    ['a removed upstream', { action: 'offboard', reason: 'upstream_removed' } as const, ctx(), 'the sign-in provider of your account has been removed from Kubegate; this credential has been revoked'],
    ['a person gone upstream', { action: 'offboard', reason: 'upstream_gone' } as const, ctx(), 'your account is disabled or deleted at your sign-in provider; every credential of yours has been revoked'],
    ['an upstream down past its grace', deny('upstream_unavailable'), ctx(), 'your sign-in provider has not been reachable to confirm your account for too long; nothing was revoked, try again later'],
  ])('%s', (_, outcome, c, expected) => {
    const text = describeRefusal(outcome as Parameters<typeof describeRefusal>[0], c, o);
    expect(text).toBe(expected);
    expect(text).not.toMatch(/session has been revoked/);
    // RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E.
    expect(text).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
  });
});
