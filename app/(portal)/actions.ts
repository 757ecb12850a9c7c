'use server';

import { signOut } from '@/lib/auth/next-auth';
import { revokeSession } from '@/lib/portal/credentials';
import { sessionToSignOut } from '@/lib/portal/session';

/**
 * Sign-out revokes the login session and, with it, every refresh-token
 * family minted from it: kubeconfigs handed out stop working within one
 * id_token lifetime.
 */
export async function signOutAction(): Promise<void> {
  const ctx = await sessionToSignOut();
  if (ctx) await revokeSession(ctx.rt, ctx.session.id, 'sign_out', { kind: 'user', user: ctx.user, sessionId: ctx.session.id });
  await signOut({ redirectTo: '/login?signed_out=1' });
}
