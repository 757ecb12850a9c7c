'use server';

import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import { z } from 'zod';
import { verifyCsrfToken } from '@/lib/auth/csrf';
import { consolePath } from '@/lib/portal/admin/access';
import { requireAdmin } from '@/lib/portal/admin/context';
import { revokeCredential, revokeSession, revokeUserEverywhere } from '@/lib/portal/credentials';

const Form = z.object({
  target: z.string().min(1).max(200),
  csrf: z.string().min(1).max(200),
  back: z.string().max(2000).optional(),
});

/**
 * Every console action: an admin (404 otherwise), a recent sign-in and the
 * second factor (redirects otherwise), and the session-bound CSRF token on
 * top of Next's Origin check. Revocations are audited with details.by.
 */
async function adminAction(form: FormData) {
  const input = Form.safeParse({ target: form.get('target'), csrf: form.get('csrf'), back: form.get('back') ?? undefined });
  const back = consolePath(input.success ? input.data.back : undefined);
  const admin = await requireAdmin(back);
  if (!input.success || !verifyCsrfToken(admin.rt.authSecret, admin.session.id, input.data.csrf)) redirect(withNotice(back, 'not_from_portal'));
  return { admin, target: input.data.target, back };
}

function withNotice(back: string, notice: string): string {
  const url = new URL(back, 'https://kubegate.invalid');
  url.searchParams.set('notice', notice);
  return url.pathname + url.search;
}

export async function adminRevokeSessionAction(form: FormData): Promise<void> {
  const { admin, target, back } = await adminAction(form);
  const result = await revokeSession(admin.rt, target, 'revoked_by_admin', admin.actor);
  revalidatePath('/admin');
  redirect(withNotice(back, `session_${result}`));
}

export async function adminRevokeCredentialAction(form: FormData): Promise<void> {
  const { admin, target, back } = await adminAction(form);
  const result = await revokeCredential(admin.rt, target, 'revoked_by_admin', admin.actor);
  revalidatePath('/admin');
  redirect(withNotice(back, `credential_${result}`));
}

export async function adminRevokeUserAction(form: FormData): Promise<void> {
  const { admin, target, back } = await adminAction(form);
  const count = await revokeUserEverywhere(admin.rt, target, 'revoked_by_admin', admin.actor);
  revalidatePath('/admin');
  redirect(withNotice(back, count > 0 ? 'user_revoked' : 'user_nothing'));
}
