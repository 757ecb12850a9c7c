import { randomBytes } from 'node:crypto';
import type { LoginSession, Store, User, UserProfile } from '../store/types';
import type { Logger } from '../util/log';

export interface LoginDeps {
  store: Store;
  now: () => number;
  sessionLifetimeMs: number;
  /** Each sign-in is logged at info: who, through which upstream, from where; never a token or the session id. */
  log?: Pick<Logger, 'info'>;
}

export interface LoginMeta {
  amr: string[];
  /** Epoch ms of the upstream authentication, when the upstream said. */
  authTime?: number;
  clientIp?: string | null;
  userAgent?: string | null;
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
  const user = await deps.store.upsertUser(profile, now);
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
