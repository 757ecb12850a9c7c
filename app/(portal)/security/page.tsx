import type { Metadata } from 'next';
import Link from 'next/link';
import { PasskeyEnroll } from '@/components/mfa/passkey-enroll';
import { RegenerateCodes } from '@/components/mfa/regenerate-codes';
import { buttonStyles, cardStyles, cn } from '@/components/ui/styles';
import { csrfToken } from '@/lib/auth/csrf';
import { mfaRequired, sessionHasMfa } from '@/lib/mfa/policy';
import { confirmedFactors } from '@/lib/mfa/service';
import { mfaPolicyOf } from '@/lib/mfa/config';
import { mayEnroll, passkeyDataOf, passkeyKind } from '@/lib/mfa/webauthn';
import { requirePortalSession } from '@/lib/portal/session';
import { regenerateRecoveryCodesAction, removeFactorAction } from './actions';

export const metadata: Metadata = { title: 'Security' };

const time = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC');
const KIND: Record<string, string> = { totp: 'Authenticator app', webauthn: 'Passkey' };

/** Self-service: the person's second factors, their recovery codes, and whether this session showed one. */
export default async function SecurityPage() {
  const { rt, user, session } = await requirePortalSession();
  const [factors, codes] = await Promise.all([confirmedFactors(rt.store, user.id), rt.store.countRecoveryCodes(user.id)]);
  const csrf = csrfToken(rt.authSecret, session.id);
  const required = mfaRequired(mfaPolicyOf(rt.config), user.groups);
  const mayAddPasskey = await mayEnroll(rt, user, session);
  return (
    <div className="space-y-8">
      <header>
        <h1 className="text-2xl font-semibold tracking-tight">Security</h1>
        <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
          This session {sessionHasMfa(session) ? 'has shown a second factor' : 'has shown one factor only'} ({session.amr.join(', ') || 'upstream sign-in'}).{' '}
          {required ? 'Your groups require a second factor.' : 'A second factor is optional for you, but some clusters may ask for one.'}
        </p>
      </header>
      <section className={cn(cardStyles, 'space-y-4')} aria-labelledby="factors">
        <h2 id="factors" className="text-lg font-semibold">
          Second factors
        </h2>
        {factors.length === 0 ? (
          <p className="text-sm">You have none yet.</p>
        ) : (
          <ul className="divide-y divide-slate-100 dark:divide-slate-800" data-testid="factors">
            {factors.map((f) => (
              <li key={f.id} className="flex items-center justify-between gap-4 py-2 text-sm">
                <span>
                  <span className="font-medium">{f.name}</span> · {KIND[f.kind] ?? f.kind}
                  {f.kind === 'webauthn' && <> ({passkeyKind(passkeyDataOf(f))})</>} · added {time(f.created_at)} · last used {time(f.last_used_at)}
                </span>
                <form action={removeFactorAction}>
                  <input type="hidden" name="factor" value={f.id} />
                  <input type="hidden" name="csrf" value={csrf} />
                  <button type="submit" className={buttonStyles.ghost}>
                    Remove
                  </button>
                </form>
              </li>
            ))}
          </ul>
        )}
        <Link href="/mfa?add=totp&next=/security" className={buttonStyles.secondary}>
          Add an authenticator app
        </Link>
        <div className="border-t border-slate-100 pt-4 dark:border-slate-800">
          <h3 className="mb-2 text-sm font-semibold">Add a passkey</h3>
          {mayAddPasskey ? (
            <PasskeyEnroll csrf={csrf} next="/security" label="Add a passkey" />
          ) : (
            <p className="text-sm">
              To add a passkey, first{' '}
              <Link href="/mfa?next=/security" className="underline">
                verify with a second factor you have
              </Link>
              .
            </p>
          )}
        </div>
      </section>
      <section className={cn(cardStyles, 'space-y-4')} aria-labelledby="recovery">
        <h2 id="recovery" className="text-lg font-semibold">
          Recovery codes
        </h2>
        <p className="text-sm" data-testid="recovery-count">
          {codes.total === 0 ? 'You have no recovery codes.' : `${codes.unused} of ${codes.total} unused.`}
        </p>
        {factors.length > 0 && <RegenerateCodes action={regenerateRecoveryCodesAction} csrf={csrf} />}
      </section>
    </div>
  );
}
