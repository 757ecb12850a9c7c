'use server';

import { signOut } from '@/lib/auth/next-auth';
import { currentPortalSession } from '@/lib/portal/session';

/**
 * Sign-out revokes the login session and, with it, every refresh-token
 * family minted from it: kubeconfigs handed out stop working within one
 * id_token lifetime.
 */
export async function signOutAction(): Promise<void> {
  const ctx = await currentPortalSession();
  if (ctx) {
    await ctx.rt.store.revokeLoginSession(ctx.session.id, 'sign_out', ctx.rt.now(), {
      kind: 'session.logout',
      user_id: ctx.user.id,
      username: ctx.user.username,
    });
  }
  await signOut({ redirectTo: '/login?signed_out=1' });
}
