'use server';

import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { revalidatePath } from 'next/cache';
import { z } from 'zod';
import { verifyCsrfToken } from '@/lib/auth/csrf';
import { sessionHasMfa } from '@/lib/mfa/policy';
import { confirmedFactors, regenerateRecoveryCodes, removeFactor } from '@/lib/mfa/service';
import { mfaDeps } from '@/lib/portal/mfa';
import { MFA_MESSAGES, type MfaFormState } from '@/lib/portal/mfa-view';
import { currentPortalSession } from '@/lib/portal/session';

/**
 * Changing one's factors needs a complete session that has shown a second
 * factor (when the person has any): a stolen password alone cannot remove
 * the authenticator or read fresh recovery codes.
 */
async function verifiedSession(csrf: unknown) {
  const ctx = await currentPortalSession();
  if (!ctx) redirect('/login?error=session_ended');
  if (!verifyCsrfToken(ctx.rt.authSecret, ctx.session.id, csrf)) return undefined;
  if (!sessionHasMfa(ctx.session) && (await confirmedFactors(ctx.rt.store, ctx.user.id)).length > 0) redirect('/mfa?next=/security');
  return { ctx, meta: { clientIp: (await headers()).get('x-kubegate-client-ip') } };
}

const RemoveForm = z.object({ factor: z.string().uuid(), csrf: z.string().min(1).max(200) });

export async function removeFactorAction(form: FormData): Promise<void> {
  const input = RemoveForm.safeParse({ factor: form.get('factor'), csrf: form.get('csrf') });
  const verified = await verifiedSession(input.success ? input.data.csrf : undefined);
  if (!verified || !input.success) redirect('/security?error=not_from_portal');
  await removeFactor(mfaDeps(verified.ctx.rt), verified.ctx.user, verified.ctx.session, input.data.factor, verified.meta);
  revalidatePath('/security');
  redirect('/security');
}

export async function regenerateRecoveryCodesAction(_previous: MfaFormState, form: FormData): Promise<MfaFormState> {
  const verified = await verifiedSession(form.get('csrf'));
  if (!verified) return { status: 'refused', message: MFA_MESSAGES.not_from_portal };
  const codes = await regenerateRecoveryCodes(mfaDeps(verified.ctx.rt), verified.ctx.user, verified.ctx.session, verified.meta);
  return { status: 'regenerated', recoveryCodes: codes };
}
