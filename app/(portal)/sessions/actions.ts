'use server';

import { revalidatePath } from 'next/cache';
import { z } from 'zod';
import { signOut } from '@/lib/auth/next-auth';
import { currentPortalSession } from '@/lib/portal/session';

const Id = z.string().min(1).max(200);

/** Ends one of the signed-in person's own sign-ins, and every credential minted from it. */
export async function revokeSessionAction(formData: FormData): Promise<void> {
  const ctx = await currentPortalSession();
  const id = Id.safeParse(formData.get('session'));
  if (!ctx || !id.success) return;
  const target = await ctx.rt.store.getLoginSession(id.data);
  // Only your own sessions; anything else looks like nothing happened.
  if (!target || target.user.id !== ctx.user.id) return;
  await ctx.rt.store.revokeLoginSession(id.data, 'revoked_by_user', ctx.rt.now(), {
    kind: 'session.revoked',
    user_id: ctx.user.id,
    username: ctx.user.username,
    details: { by_session: ctx.session.id },
  });
  if (id.data === ctx.session.id) await signOut({ redirectTo: '/login?signed_out=1' });
  revalidatePath('/sessions');
}

/** Revokes one credential (refresh-token family): that kubeconfig stops working within one id_token lifetime. */
export async function revokeCredentialAction(formData: FormData): Promise<void> {
  const ctx = await currentPortalSession();
  const id = Id.safeParse(formData.get('credential'));
  if (!ctx || !id.success) return;
  const family = await ctx.rt.store.getFamily(id.data);
  if (!family || family.user_id !== ctx.user.id) return;
  await ctx.rt.store.revokeFamily(id.data, 'revoked_by_user', ctx.rt.now(), {
    kind: 'family.revoked',
    user_id: ctx.user.id,
    username: ctx.user.username,
    cluster: family.cluster,
    session_id: family.login_session_id,
  });
  revalidatePath('/sessions');
}
