import { describe as group, expect, it } from 'vitest';
import type { RefreshContext } from '../store/types';
import { decideRefresh, describe as describeReason, MAX_REPLAY_STEPS, type DenyReason, type RefreshDecision } from './refresh-policy';

const T = Date.UTC(2031, 0, 1);
const S = 1000;
const policy = { idleTimeoutMs: 15 * 60 * S, reuseGraceMs: 10 * S };
const K8S = { clientId: 'kubernetes', allowedGroups: [] as string[] };

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
  ];
  for (let steps = 1; steps <= MAX_REPLAY_STEPS; steps++) {
    rows.push([`spent within grace, head ${steps} step(s) ahead`, ctx({ used_at: T - S, generation: 2, head: 2 + steps }), replay(steps)]);
  }
  rows.push([`spent within grace, head ${MAX_REPLAY_STEPS + 1} steps ahead`, ctx({ used_at: T - S, generation: 2, head: 2 + MAX_REPLAY_STEPS + 1 }), revoke]);

  it.each(rows)('%s', (_, c, expected) => {
    expect(decideRefresh(c, K8S, T, policy)).toEqual(expected);
  });

  // Regression: access used to be checked only when minting, so removing a
  // group from allowed_groups left its kubeconfigs working until session end.
  it.each([
    ['no allowed_groups: everyone', [], ['dev'], rotate],
    ['one of the user groups is allowed', ['ops', 'dev'], ['dev'], rotate],
    ['none of the user groups is allowed any more', ['ops'], ['dev'], deny('cluster_not_allowed')],
    ['a user with no groups on a restricted cluster', ['ops'], [], deny('cluster_not_allowed')],
  ] as const)('allowed_groups re-checked on refresh: %s', (_, allowed, groups, expected) => {
    const c = ctx();
    c.user.groups = [...groups];
    expect(decideRefresh(c, { clientId: 'kubernetes', allowedGroups: allowed }, T, policy)).toEqual(expected);
  });

  it('allows 8 replay steps', () => {
    expect(MAX_REPLAY_STEPS).toBe(8);
  });

  it('with no grace window, any spent token revokes the family', () => {
    expect(decideRefresh(ctx({ used_at: T, head: 4 }), K8S, T, { ...policy, reuseGraceMs: 0 })).toEqual(replay(1));
    expect(decideRefresh(ctx({ used_at: T - 1, head: 4 }), K8S, T, { ...policy, reuseGraceMs: 0 })).toEqual(revoke);
  });

  it('describes every outcome without leaking internals', () => {
    for (const reason of ['client_mismatch', 'family_revoked', 'session_revoked', 'session_expired', 'idle_timeout', 'reuse'] as const) {
      expect(describeReason(reason)).toMatch(/^the /);
    }
  });
});
