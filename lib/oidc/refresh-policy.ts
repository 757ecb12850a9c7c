import { mayUseCluster } from '../access';
import type { RefreshContext } from '../store/types';

export interface RefreshPolicy {
  /** A family unused for longer than this is dead. */
  idleTimeoutMs: number;
  /** A spent token presented again within this window gets the family's head again. */
  reuseGraceMs: number;
}

/** How many generations a replay may walk forward to reach the family's head. */
export const MAX_REPLAY_STEPS = 8;

export type DenyReason =
  | 'client_mismatch'
  | 'cluster_not_allowed'
  | 'family_revoked'
  | 'session_revoked'
  | 'session_expired'
  | 'idle_timeout';

export type RefreshDecision =
  | { action: 'rotate' }
  /** Spent within the grace window: answer with the head, `steps` derivations from this token. */
  | { action: 'replay'; steps: number }
  /** Spent before the grace window: someone holds a copy. Revoke the whole family. */
  | { action: 'revoke_family' }
  | { action: 'deny'; reason: DenyReason };

const DESCRIPTIONS: Record<DenyReason | 'reuse', string> = {
  client_mismatch: 'the refresh token was not issued to this client',
  cluster_not_allowed: 'your groups no longer give you access to this cluster; sign in again',
  family_revoked: 'the refresh token has been revoked',
  session_revoked: 'the login session has ended; sign in again',
  session_expired: 'the login session has expired; sign in again',
  idle_timeout: 'the refresh token expired after inactivity; sign in again',
  reuse: 'the refresh token was already used; its session has been revoked',
};

export function describe(reason: DenyReason | 'reuse'): string {
  return DESCRIPTIONS[reason];
}

/**
 * Decides one refresh (RFC 6749 §6, OAuth 2.0 Security BCP §4.14.2), purely:
 * the caller reads the context, applies the decision, and passes its clock.
 */
export function decideRefresh(
  ctx: RefreshContext,
  client: { clientId: string; allowedGroups: readonly string[] },
  now: number,
  policy: RefreshPolicy,
): RefreshDecision {
  const { token, family, session, user } = ctx;
  if (family.client_id !== client.clientId) return { action: 'deny', reason: 'client_mismatch' };
  // Access is re-checked on every refresh: taking a group off a cluster's
  // allowed_groups bites within one id_token lifetime, not at session end.
  if (!mayUseCluster({ allowed_groups: [...client.allowedGroups] }, user.groups)) return { action: 'deny', reason: 'cluster_not_allowed' };
  if (family.revoked_at !== null) return { action: 'deny', reason: 'family_revoked' };
  if (session.revoked_at !== null) return { action: 'deny', reason: 'session_revoked' };
  if (now >= family.expires_at || now >= session.expires_at) return { action: 'deny', reason: 'session_expired' };
  if (token.used_at === null) {
    if (now - family.last_used_at > policy.idleTimeoutMs) return { action: 'deny', reason: 'idle_timeout' };
    return { action: 'rotate' };
  }
  const steps = family.generation - token.generation;
  if (now - token.used_at <= policy.reuseGraceMs && steps >= 1 && steps <= MAX_REPLAY_STEPS) {
    return { action: 'replay', steps };
  }
  return { action: 'revoke_family' };
}
