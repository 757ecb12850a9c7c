'use server';

import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { z } from 'zod';
import { verifyCsrfToken } from '@/lib/auth/csrf';
import { confirmTotpEnrollment, verifyCode } from '@/lib/mfa/service';
import { mfaDeps } from '@/lib/portal/mfa';
import { MFA_MESSAGES, type MfaFormState } from '@/lib/portal/mfa-view';
import { currentSignedIn } from '@/lib/portal/session';
import { safeNext } from '@/lib/upstream/redirect-flow';

const CodeForm = z.object({ code: z.string().trim().min(1).max(40), csrf: z.string().min(1).max(200), next: z.string().max(2000).optional() });
const EnrollForm = CodeForm.extend({ factor: z.string().uuid() });

async function signedIn(form: FormData, schema: typeof CodeForm | typeof EnrollForm) {
  const ctx = await currentSignedIn();
  if (!ctx) redirect('/login?error=session_ended');
  const input = schema.safeParse(Object.fromEntries(['code', 'csrf', 'next', 'factor'].filter((k) => form.has(k)).map((k) => [k, form.get(k)])));
  if (!input.success || !verifyCsrfToken(ctx.rt.authSecret, ctx.session.id, input.data.csrf)) return { ctx, input: undefined };
  const clientIp = (await headers()).get('x-kubegate-client-ip');
  return { ctx, input: input.data as z.infer<typeof EnrollForm>, meta: { clientIp } };
}

/** The second-factor prompt: a code from an authenticator app, or a recovery code. */
export async function verifyCodeAction(_previous: MfaFormState, form: FormData): Promise<MfaFormState> {
  const { ctx, input, meta } = await signedIn(form, CodeForm);
  if (!input || !meta) return { status: 'refused', message: MFA_MESSAGES.not_from_portal };
  const result = await verifyCode(mfaDeps(ctx.rt), ctx.user, ctx.session, input.code, meta);
  if (!result.ok) return { status: 'refused', message: MFA_MESSAGES[result.reason] };
  redirect(safeNext(input.next));
}

/** Enrollment: the first code from the newly scanned app confirms it; recovery codes come back once. */
export async function confirmEnrollmentAction(_previous: MfaFormState, form: FormData): Promise<MfaFormState> {
  const { ctx, input, meta } = await signedIn(form, EnrollForm);
  if (!input || !meta) return { status: 'refused', message: MFA_MESSAGES.not_from_portal };
  // Adding another factor to a complete session needs that session to have shown one already, if any exist.
  const result = await confirmTotpEnrollment(mfaDeps(ctx.rt), ctx.user, ctx.session, { factorId: input.factor, code: input.code }, meta);
  if (!result.ok) return { status: 'refused', message: MFA_MESSAGES[result.reason] };
  const next = safeNext(input.next);
  if (result.recoveryCodes) return { status: 'enrolled', recoveryCodes: result.recoveryCodes, next };
  redirect(next);
}
