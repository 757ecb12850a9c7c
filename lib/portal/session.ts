import 'server-only';
import { redirect } from 'next/navigation';
import { auth } from '../auth/next-auth';
import { activeLoginSession } from '../auth/login';
import type { Runtime } from '../runtime';
import { getRuntime } from '../runtime-global';
import type { LoginSession, User } from '../store/types';

export interface PortalContext {
  rt: Runtime;
  session: LoginSession;
  user: User;
}

/**
 * The signed-in person for this request, checked against the store on every
 * call: a revoked or expired login session is no session, whatever the
 * cookie says.
 */
export async function currentPortalSession(): Promise<PortalContext | undefined> {
  const [rt, s] = await Promise.all([getRuntime(), auth()]);
  if (!s?.sid) return undefined;
  const found = await activeLoginSession(rt.store, s.sid, rt.now());
  return found && { rt, ...found };
}

/** For pages: the signed-in person, or a redirect to the sign-in page. */
export async function requirePortalSession(): Promise<PortalContext> {
  const ctx = await currentPortalSession();
  if (!ctx) redirect('/login');
  return ctx;
}
