'use server';

import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { decideUserCode } from '@/lib/oidc/device';
import { currentPortalSession } from '@/lib/portal/session';

async function decide(formData: FormData, decision: 'approve' | 'deny'): Promise<void> {
  const ctx = await currentPortalSession();
  if (!ctx) redirect('/login?error=session_ended');
  const code = formData.get('user_code');
  const clientIp = (await headers()).get('x-kubegate-client-ip');
  const result = await decideUserCode(ctx.rt.authzDeps, typeof code === 'string' ? code : '', decision, { session: ctx.session, user: ctx.user, clientIp });
  redirect(`/device?result=${result}`);
}

/** Approves a device's sign-in (RFC 8628 §3.3): its next poll gets a credential bound to this session. */
export async function approveDeviceAction(formData: FormData): Promise<void> {
  await decide(formData, 'approve');
}

export async function denyDeviceAction(formData: FormData): Promise<void> {
  await decide(formData, 'deny');
}
