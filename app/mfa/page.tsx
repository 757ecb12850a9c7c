import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { CodeForm } from '@/components/mfa/code-form';
import { EnrollForm } from '@/components/mfa/enroll-form';
import { PasskeyEnroll } from '@/components/mfa/passkey-enroll';
import { PasskeySignIn } from '@/components/mfa/passkey-sign-in';
import { buttonStyles, cardStyles, cn } from '@/components/ui/styles';
import { csrfToken } from '@/lib/auth/csrf';
import { sessionHasMfa } from '@/lib/mfa/policy';
import { confirmedFactors, pendingTotpEnrollment } from '@/lib/mfa/service';
import { mfaDeps } from '@/lib/portal/mfa';
import { currentSignedIn } from '@/lib/portal/session';
import { safeNext } from '@/lib/upstream/redirect-flow';
import { signOutAction } from '../(portal)/actions';
import { confirmEnrollmentAction, verifyCodeAction } from './actions';

export const metadata: Metadata = { title: 'Second factor' };

/**
 * The second factor, after the first one: verify with an enrolled
 * authenticator (or a recovery code), or enroll one when the policy needs a
 * factor and none exists. Also step-up (a cluster that asks for MFA sends
 * people here with ?next=) and adding another authenticator (?add=totp).
 */
export default async function MfaPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const [params, ctx] = await Promise.all([searchParams, currentSignedIn()]);
  if (!ctx) redirect('/login');
  const { rt, user, session } = ctx;
  const next = safeNext(params.next);
  const adding = params.add === 'totp';
  const hasMfa = sessionHasMfa(session);
  if (hasMfa && !adding) redirect(next);
  const factors = await confirmedFactors(rt.store, user.id);
  const csrf = csrfToken(rt.authSecret, session.id);
  // A first factor may be enrolled by anyone signed in; another one only after showing an existing one.
  const enroll = factors.length === 0 || (adding && hasMfa);
  const enrollment = enroll ? await pendingTotpEnrollment(mfaDeps(rt), user) : undefined;
  // Passkeys: offered beside the code form when the person has one, and as a first factor to set up.
  const hasPasskey = factors.some((f) => f.kind === 'webauthn');
  const offerPasskeyEnrollment = factors.length === 0;
  const verifyNext = adding ? `/mfa?add=totp&next=${encodeURIComponent(next)}` : next;
  // Asked for by the policy or a cluster, or added by choice from the Security page.
  const why = adding ? 'Add another factor to your account.' : 'Your Kubernetes access needs a second factor.';
  return (
    <main className="flex min-h-screen items-center justify-center px-4 py-12">
      <div className="w-full max-w-md">
        <div className="mb-8 text-center">
          <h1 className="text-2xl font-semibold tracking-tight">{enrollment ? 'Set up a second factor' : 'Verify it is you'}</h1>
          <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
            {enrollment
              ? offerPasskeyEnrollment
                ? `${why} Set up a passkey (this device, a phone or a security key), or scan the code with an authenticator app (Google Authenticator, 1Password, Authy, FreeOTP…).`
                : `${why} Scan the code with an authenticator app (Google Authenticator, 1Password, Authy, FreeOTP…).`
              : hasPasskey
                ? `Signed in as ${user.username}. Use your passkey, or enter the code your authenticator app shows.`
                : `Signed in as ${user.username}. Enter the code your authenticator app shows.`}
          </p>
        </div>
        <div className={cn(cardStyles, 'space-y-6')}>
          {enrollment ? (
            <>
              {offerPasskeyEnrollment && (
                <section aria-labelledby="passkey-setup" className="space-y-3">
                  <h2 id="passkey-setup" className="text-sm font-semibold">
                    A passkey
                  </h2>
                  <PasskeyEnroll csrf={csrf} next={next} />
                  <p className="text-center text-xs text-slate-500 dark:text-slate-400">or an authenticator app</p>
                </section>
              )}
              {/* Rendered on the server: an SVG of the otpauth:// URI, no script and no external image. */}
              <div
                className="mx-auto w-48 rounded-lg bg-white p-2"
                role="img"
                aria-label="QR code for your authenticator app"
                dangerouslySetInnerHTML={{ __html: enrollment.qrSvg }}
              />
              <div className="text-sm">
                <p>Cannot scan? Enter this key in the app:</p>
                <code className="mt-1 block font-mono break-all" data-testid="totp-secret">
                  {enrollment.secret}
                </code>
              </div>
              <EnrollForm action={confirmEnrollmentAction} csrf={csrf} next={next} factor={enrollment.factorId} />
            </>
          ) : (
            <>
              {hasPasskey && (
                <>
                  <PasskeySignIn csrf={csrf} next={verifyNext} />
                  <p className="text-center text-xs text-slate-500 dark:text-slate-400">or enter a code</p>
                </>
              )}
              <CodeForm action={verifyCodeAction} csrf={csrf} next={verifyNext} />
            </>
          )}
          <form action={signOutAction}>
            <button type="submit" className={cn(buttonStyles.ghost, 'w-full')}>
              Sign out
            </button>
          </form>
        </div>
      </div>
    </main>
  );
}
