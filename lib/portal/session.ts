import 'server-only';
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { cache } from 'react';
import { SessionCookieReader, sessionToken } from '../auth/session-cookie';
import { resolveWebSession, webSessionPolicy, type WebSessionEnd } from '../auth/web-session';
import type { Runtime } from '../runtime';
import { getRuntime } from '../runtime-global';
import type { LoginSession, User } from '../store/types';
import { stageOf } from '../mfa/service';
import { revokeSession } from './credentials';
import { mfaDeps } from './mfa';

export interface PortalContext {
  rt: Runtime;
  session: LoginSession;
  /** The person as entitled now (current username and groups from their source), not as at sign-in. */
  user: User;
}

export type PortalSession =
  | { status: 'active'; ctx: PortalContext }
  /** First factor done; a second one is required: shown ('second_factor') or enrolled first ('enrollment'). */
  | { status: 'second_factor' | 'enrollment'; ctx: PortalContext }
  | { status: 'signed_out' }
  | { status: 'ended'; reason: WebSessionEnd };

const readers = new WeakMap<Runtime, SessionCookieReader>();

/**
 * The login-session id in this request's Auth.js cookie, as next-auth's
 * `auth()` would give it (lib/auth/session-cookie.ts explains why not `auth()`).
 */
async function cookieSessionId(rt: Runtime): Promise<string | undefined> {
  let reader = readers.get(rt);
  if (!reader) {
    reader = new SessionCookieReader(rt.authSecret, {
      // What Auth.js's session action logged for a cookie it could not decrypt (a stale secret, a forged value).
      onInvalid: (err) => rt.log.error('auth error', { type: 'JWTSessionError', message: err instanceof Error ? err.message.slice(0, 300) : String(err) }),
    });
    readers.set(rt, reader);
  }
  return reader.sessionId(sessionToken(await cookies()));
}

/**
 * The signed-in person for this request, checked against the store and the
 * config on every call: a revoked, expired or idle login session is no
 * session, whatever the cookie says; a person removed from the config has
 * their session revoked ('offboarded') here; and the groups are the ones the
 * config gives now, so a removed group disappears from clusters, pages and
 * downloads at once. Once per request (React `cache`): the layout and the
 * page both ask, and must not each read the row and record activity.
 */
export const portalSession = cache(async (): Promise<PortalSession> => {
  const rt = await getRuntime();
  const sid = await cookieSessionId(rt);
  if (!sid) return { status: 'signed_out' };
  const result = await resolveWebSession(
    {
      store: rt.store,
      now: rt.now,
      config: rt.config,
      policy: webSessionPolicy(rt.config.issuer.web_session_idle_timeout),
      rechecker: rt.rechecker,
      offboard: async (id) => {
        const done = await revokeSession(rt, id, 'offboarded', { kind: 'admin', by: 'configuration' });
        rt.log.info('web session revoked: its user is no longer entitled (removed from the configuration or gone upstream)', { result: done });
      },
      onTouchError: (err) => rt.log.warn('could not record session activity', { error: err instanceof Error ? err.message : String(err) }),
    },
    sid,
  );
  if (result.status === 'ended') return result;
  const ctx = { rt, session: result.session, user: result.user };
  // Only a complete session sees clusters, mints, or acts on sessions (lib/mfa/policy.ts loginStage).
  const stage = await stageOf(mfaDeps(rt), result.session, result.user);
  return stage === 'complete' ? { status: 'active', ctx } : { status: stage, ctx };
});

/** For the second-factor pages: the signed-in person whether or not the second factor is done yet. */
export async function currentSignedIn(): Promise<(PortalContext & { stage: 'complete' | 'second_factor' | 'enrollment' }) | undefined> {
  const s = await portalSession();
  if (s.status === 'active') return { ...s.ctx, stage: 'complete' };
  if (s.status === 'second_factor' || s.status === 'enrollment') return { ...s.ctx, stage: s.status };
  return undefined;
}

/** For actions and routes: the signed-in person, or undefined. */
export async function currentPortalSession(): Promise<PortalContext | undefined> {
  const s = await portalSession();
  return s.status === 'active' ? s.ctx : undefined;
}

/** For pages: the signed-in person, or a redirect to the sign-in page saying why the session ended. */
export async function requirePortalSession(): Promise<PortalContext> {
  const s = await portalSession();
  if (s.status === 'active') return s.ctx;
  if (s.status === 'second_factor' || s.status === 'enrollment') redirect('/mfa');
  redirect(s.status === 'ended' ? `/login?error=${s.reason}` : '/login');
}

/**
 * For sign-out only: the login session behind the cookie if it was never
 * revoked, even when it is idle or past its end. Signing out after the idle
 * timeout must still end the credentials minted from that session, as the
 * signed-out page promises.
 */
export async function sessionToSignOut(): Promise<PortalContext | undefined> {
  const rt = await getRuntime();
  const sid = await cookieSessionId(rt);
  if (!sid) return undefined;
  const found = await rt.store.getLoginSession(sid);
  if (!found || found.session.revoked_at !== null) return undefined;
  return { rt, session: found.session, user: found.user };
}
