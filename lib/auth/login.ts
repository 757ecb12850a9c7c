import { randomBytes } from 'node:crypto';
import type { LoginSession, Store, User, UserProfile } from '../store/types';
import type { Logger } from '../util/log';

export interface LoginDeps {
  store: Store;
  now: () => number;
  sessionLifetimeMs: number;
  /** Each sign-in is logged at info: who, through which upstream, from where; never a token or the session id. */
  log?: Pick<Logger, 'info'>;
  /** Seals the connector's re-check state with the KEK (Rechecker.sealState); it is never stored in clear. */
  sealRecheckState?: (person: Pick<UserProfile, 'upstream' | 'subject'>, state: string) => Promise<string>;
}

export interface LoginMeta {
  amr: string[];
  /** Epoch ms of the upstream authentication, when the upstream said. */
  authTime?: number;
  clientIp?: string | null;
  userAgent?: string | null;
  /** What the connector needs to re-check this person later (UpstreamSignIn.recheckState); null clears a stored one. */
  recheckState?: string | null;
}

/**
 * After a successful upstream sign-in: record the person (stable id across
 * sign-ins) and open a server-side login session. The browser cookie holds
 * only this session's id, so revoking the row signs the browser out.
 */
export async function establishLoginSession(
  deps: LoginDeps,
  profile: UserProfile,
  meta: LoginMeta,
): Promise<{ session: LoginSession; user: User }> {
  const now = deps.now();
  let recheckState = meta.recheckState;
  if (typeof recheckState === 'string') {
    if (!deps.sealRecheckState) throw new Error('a re-check state must be sealed before it is stored: LoginDeps.sealRecheckState is missing');
    recheckState = await deps.sealRecheckState(profile, recheckState);
  }
  // The sign-in is a check: checked_at = now (lib/upstream/recheck.ts counts the interval from here).
  const user = await deps.store.upsertUser(profile, now, { recheckState });
  const authTime = meta.authTime !== undefined && meta.authTime <= now ? meta.authTime : now;
  const session = await deps.store.createLoginSession(
    {
      id: randomBytes(24).toString('base64url'),
      user_id: user.id,
      upstream: profile.upstream,
      amr: meta.amr,
      auth_time: authTime,
      expires_at: now + deps.sessionLifetimeMs,
      client_ip: meta.clientIp ?? null,
      user_agent: meta.userAgent?.slice(0, 300) ?? null,
    },
    now,
  );
  await deps.store.appendAudit(
    {
      kind: 'session.login',
      user_id: user.id,
      username: user.username,
      session_id: session.id,
      client_ip: meta.clientIp ?? null,
      details: { upstream: profile.upstream, amr: meta.amr, groups: user.groups },
    },
    now,
  );
  deps.log?.info('signed in', { user: user.username, upstream: profile.upstream, client_ip: meta.clientIp ?? null, amr: meta.amr });
  return { session, user };
}
