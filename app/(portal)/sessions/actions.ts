'use server';

import { revalidatePath } from 'next/cache';
import { z } from 'zod';
import { signOut } from '@/lib/auth/next-auth';
import { revokeCredential, revokeSession } from '@/lib/portal/credentials';
import { currentPortalSession } from '@/lib/portal/session';

const Id = z.string().min(1).max(200);

/** Ends one of the signed-in person's own sign-ins, and every credential minted from it. */
export async function revokeSessionAction(formData: FormData): Promise<void> {
  const ctx = await currentPortalSession();
  const id = Id.safeParse(formData.get('session'));
  if (!ctx || !id.success) return;
  // Only your own sessions; anything else looks like nothing happened.
  const result = await revokeSession(ctx.rt, id.data, 'revoked_by_user', { kind: 'user', user: ctx.user, sessionId: ctx.session.id });
  if (result === 'revoked' && id.data === ctx.session.id) await signOut({ redirectTo: '/login?signed_out=1' });
  revalidatePath('/sessions');
}

/** Revokes one credential (refresh-token family): that kubeconfig stops working within one id_token lifetime. */
export async function revokeCredentialAction(formData: FormData): Promise<void> {
  const ctx = await currentPortalSession();
  const id = Id.safeParse(formData.get('credential'));
  if (!ctx || !id.success) return;
  await revokeCredential(ctx.rt, id.data, 'revoked_by_user', { kind: 'user', user: ctx.user, sessionId: ctx.session.id });
  revalidatePath('/sessions');
}
