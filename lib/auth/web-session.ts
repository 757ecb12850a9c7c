import type { ResolvedConfig } from '../config/load';
import type { LoginSession, Store, User } from '../store/types';
import type { Rechecker } from '../upstream/recheck';
import { currentEntitlements, entitledUser } from './entitlements';

/**
 * The browser side of a login session, checked on every page, action and
 * route: the row must be live (not revoked, not past its absolute end), the
 * browser must have used it recently (the web idle timeout), and the person
 * must still be entitled to it by their identity's source (the config, for
 * local users). This ends the BROWSER session only: credentials minted from
 * it keep their own idle timeout (refresh_idle_timeout) and end with the
 * session's absolute end or its revocation.
 */

/** Why a browser is sent back to sign-in; also the sign-in page's message code. */
export type WebSessionEnd = 'session_ended' | 'session_idle' | 'offboarded' | 'upstream_unavailable';

export interface WebSessionPolicy {
  /** A session unused by the browser this long is signed out. */
  idleTimeoutMs: number;
  /** Activity is recorded at most this often (one write per page view would be too many). */
  touchIntervalMs: number;
}

/** At most once a minute, and often enough that an active person is never taken for an idle one. */
export function webSessionPolicy(idleTimeoutSeconds: number): WebSessionPolicy {
  const idleTimeoutMs = idleTimeoutSeconds * 1000;
  return { idleTimeoutMs, touchIntervalMs: Math.min(60_000, Math.floor(idleTimeoutMs / 4)) };
}

export type WebSessionDecision =
  | {
      status: 'active';
      /** The person as they are entitled now: current username and groups, not those of sign-in. */
      user: User;
      /** Record activity now (last_seen_at is older than the touch interval). */
      touch: boolean;
    }
  | { status: 'ended'; reason: WebSessionEnd; /** The person is gone from their source: revoke the session. */ offboard?: boolean };

/**
 * The decision: what a stored session means for this request at `now`.
 * Pure but for `rechecker`, which may ask an upstream person's upstream
 * again (lib/upstream/recheck.ts) when their last check is due.
 */
export async function decideWebSession(
  found: { session: LoginSession; user: User } | undefined,
  config: Pick<ResolvedConfig, 'upstreams' | 'users'>,
  now: number,
  policy: WebSessionPolicy,
  rechecker?: Pick<Rechecker, 'check'>,
): Promise<WebSessionDecision> {
  if (!found) return { status: 'ended', reason: 'session_ended' };
  const { session, user } = found;
  if (session.revoked_at !== null) return { status: 'ended', reason: session.revoke_reason === 'offboarded' ? 'offboarded' : 'session_ended' };
  if (now >= session.expires_at) return { status: 'ended', reason: 'session_ended' };
  // Before the idle check: a removed person's session is revoked even if the browser left it idle.
  const entitled = await currentEntitlements(config, user, rechecker && { rechecker });
  if (entitled.status === 'removed') return { status: 'ended', reason: 'offboarded', offboard: true };
  // Fail closed without revoking: the session works again once the upstream answers.
  if (entitled.status === 'unavailable') return { status: 'ended', reason: 'upstream_unavailable' };
  // A clock that stepped back makes the age negative: that is activity now, not idleness.
  const idleFor = now - session.last_seen_at;
  if (idleFor >= policy.idleTimeoutMs) return { status: 'ended', reason: 'session_idle' };
  return {
    status: 'active',
    user: entitledUser(user, entitled),
    touch: idleFor >= policy.touchIntervalMs,
  };
}

export interface WebSessionDeps {
  store: Store;
  now: () => number;
  config: Pick<ResolvedConfig, 'upstreams' | 'users'>;
  policy: WebSessionPolicy;
  /** Re-checks upstream people whose last check is due; without it they keep their stored identity. */
  rechecker?: Pick<Rechecker, 'check'>;
  /** Revokes a session (and every credential minted from it) whose person was removed from the config. */
  offboard: (sessionId: string) => Promise<unknown>;
  /** A failed activity write must not fail the page; it is reported here. */
  onTouchError?: (err: unknown) => void;
}

export type WebSessionResult = { status: 'active'; session: LoginSession; user: User } | { status: 'ended'; reason: WebSessionEnd };

/** Reads the session behind a cookie's id, decides, and does what the decision asks (touch, offboard). */
export async function resolveWebSession(deps: WebSessionDeps, sessionId: string): Promise<WebSessionResult> {
  const now = deps.now();
  const found = await deps.store.getLoginSession(sessionId);
  const decision = await decideWebSession(found, deps.config, now, deps.policy, deps.rechecker);
  if (decision.status === 'ended') {
    if (decision.offboard) await deps.offboard(sessionId);
    return { status: 'ended', reason: decision.reason };
  }
  let session = found!.session;
  if (decision.touch) {
    try {
      await deps.store.touchLoginSession(sessionId, now);
      session = { ...session, last_seen_at: now };
    } catch (err) {
      deps.onTouchError?.(err);
    }
  }
  return { status: 'active', session, user: decision.user };
}
