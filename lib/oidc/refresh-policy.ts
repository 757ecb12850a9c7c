import { mayUseCluster } from '../access';
import type { Entitlements } from '../auth/entitlements';
import type { RefreshContext, RevokeReason } from '../store/types';
import { formatDuration } from '../util/duration';

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
  | 'idle_timeout'
  /** The upstream has not confirmed the person for longer than its recheck_grace (lib/upstream/recheck.ts). */
  | 'upstream_unavailable';

/**
 * How far two replicas' clocks may disagree (NTP keeps them within
 * milliseconds): a token another replica spent a moment ago can look spent
 * slightly in the future here.
 */
export const REPLICA_CLOCK_SKEW_MS = 2000;

export type RefreshDecision =
  | { action: 'rotate' }
  /** Spent within the grace window: answer with the head, `steps` derivations from this token. */
  | { action: 'replay'; steps: number }
  /** Spent before the grace window: someone holds a copy. Revoke the whole family. */
  | { action: 'revoke_family' }
  /** The person is gone from their identity's source: revoke the family ('offboarded'). */
  | { action: 'offboard'; reason: Extract<Entitlements, { status: 'removed' }>['reason'] }
  | { action: 'deny'; reason: DenyReason };

/**
 * Decides one refresh (RFC 6749 §6, OAuth 2.0 Security BCP §4.14.2), purely:
 * the caller reads the context and the person's current entitlements,
 * applies the decision, and passes its clock.
 */
export function decideRefresh(
  ctx: RefreshContext,
  client: { clientId: string; allowedGroups: readonly string[] },
  current: Entitlements,
  now: number,
  policy: RefreshPolicy,
): RefreshDecision {
  const { token, family, session } = ctx;
  // Audience binding first: another cluster's client learns nothing else.
  if (family.client_id !== client.clientId) return { action: 'deny', reason: 'client_mismatch' };
  if (family.revoked_at !== null) return { action: 'deny', reason: 'family_revoked' };
  if (session.revoked_at !== null) return { action: 'deny', reason: 'session_revoked' };
  if (now >= family.expires_at || now >= session.expires_at) return { action: 'deny', reason: 'session_expired' };
  // Entitlements come from their source on every refresh (lib/auth/entitlements.ts):
  // removing a user or a group from the config bites within one id_token lifetime.
  if (current.status === 'removed') return { action: 'offboard', reason: current.reason };
  // Fail closed, but revoke nothing: the credential works again once the upstream answers.
  if (current.status === 'unavailable') return { action: 'deny', reason: 'upstream_unavailable' };
  if (!mayUseCluster({ allowed_groups: [...client.allowedGroups] }, current.groups)) return { action: 'deny', reason: 'cluster_not_allowed' };
  if (token.used_at === null) {
    if (now - family.last_used_at > policy.idleTimeoutMs) return { action: 'deny', reason: 'idle_timeout' };
    return { action: 'rotate' };
  }
  const steps = family.generation - token.generation;
  // Spent "in the future" by more than replicas' clocks can disagree: the
  // clock stepped back since, and such an age is outside the grace
  // (otherwise a step back would stretch the window). Within that skew it is
  // two replicas racing on one token, which is exactly what the grace is for.
  const age = now - token.used_at;
  if (age >= -REPLICA_CLOCK_SKEW_MS && age <= policy.reuseGraceMs && steps >= 1 && steps <= MAX_REPLAY_STEPS) {
    return { action: 'replay', steps };
  }
  return { action: 'revoke_family' };
}

const REVOKED_BECAUSE: Record<RevokeReason, string> = {
  sign_out: 'you signed out',
  revoked_by_user: 'it was revoked on the Sessions page',
  revoked_by_admin: 'an administrator revoked it',
  revoked_by_client: 'the client it was issued to revoked it (token revocation)',
  refresh_token_reuse: 'a spent refresh token of it was presented again',
  authorization_code_reuse: 'the authorization code it came from was presented again',
  offboarded: 'your account was removed',
  restored: 'the database was restored from a backup',
};

function because(reason: string | null): string {
  return (reason !== null && Object.hasOwn(REVOKED_BECAUSE, reason) ? REVOKED_BECAUSE[reason as RevokeReason] : undefined) ?? 'it was revoked';
}

/**
 * What a refusal tells the person (kubectl prints it): exactly what
 * happened, to what (this credential, i.e. its refresh-token family, or the
 * sign-in it came from), and what to do next. RFC 6749 §5.2 characters only.
 */
export function describeRefusal(
  outcome: { action: 'deny'; reason: DenyReason } | Extract<RefreshDecision, { action: 'offboard' }> | { action: 'revoke_family' },
  ctx: Pick<RefreshContext, 'family' | 'session'>,
  o: { issuer: string; policy: RefreshPolicy },
): string {
  const again = `sign in again at ${o.issuer}`;
  const renew = `get a new one at ${o.issuer}`;
  switch (outcome.action) {
    case 'revoke_family':
      return `this refresh token was already used; a copy of it may exist elsewhere, so this credential has been revoked; ${renew}`;
    case 'offboard':
      switch (outcome.reason) {
        case 'user_removed':
          return 'your account has been removed from Kubegate; this credential has been revoked';
        case 'upstream_removed':
          return 'the sign-in provider of your account has been removed from Kubegate; this credential has been revoked';
        case 'upstream_gone':
          return 'your account is disabled or deleted at your sign-in provider; every credential of yours has been revoked';
      }
      break;
    case 'deny':
      switch (outcome.reason) {
        case 'client_mismatch':
          return 'the refresh token was not issued to this client (it belongs to another cluster)';
        case 'cluster_not_allowed':
          return 'your groups no longer give you access to this cluster';
        case 'family_revoked':
          return `this credential has been revoked (${because(ctx.family.revoke_reason)}); ${renew}`;
        case 'session_revoked':
          return `the sign-in this credential came from has ended (${because(ctx.session.revoke_reason)}); ${again}`;
        case 'session_expired':
          return `the sign-in this credential came from has expired; ${again}`;
        case 'idle_timeout':
          return `this credential expired after ${formatDuration(o.policy.idleTimeoutMs / 1000)} without use; ${renew}`;
        case 'upstream_unavailable':
          return 'your sign-in provider has not been reachable to confirm your account for too long; nothing was revoked, try again later';
      }
  }
}
