'use client';

import { useActionState } from 'react';
import type { MfaFormState } from '@/lib/portal/mfa-view';
import { buttonStyles, inputStyles } from '../ui/styles';
import { RecoveryCodes } from './recovery-codes';

type Action = (previous: MfaFormState, form: FormData) => Promise<MfaFormState>;

/** Confirms a scanned authenticator app with its first code; then shows the recovery codes once. */
export function EnrollForm({ action, csrf, next, factor }: { action: Action; csrf: string; next: string; factor: string }) {
  const [state, formAction, pending] = useActionState(action, { status: 'idle' });
  if (state.status === 'enrolled') {
    return (
      <div className="space-y-4" data-testid="enrolled">
        <p role="status" className="rounded-lg bg-emerald-50 p-3 text-sm text-emerald-900 dark:bg-emerald-950 dark:text-emerald-100">
          Your authenticator app is set up.
        </p>
        <RecoveryCodes codes={state.recoveryCodes} />
        <a href={state.next} className={buttonStyles.primary}>
          I have saved my recovery codes: continue
        </a>
      </div>
    );
  }
  return (
    <form action={formAction} className="space-y-4">
      <input type="hidden" name="csrf" value={csrf} />
      <input type="hidden" name="next" value={next} />
      <input type="hidden" name="factor" value={factor} />
      {state.status === 'refused' && (
        <p role="alert" id="mfa-error" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
          {state.message}
        </p>
      )}
      <div>
        <label htmlFor="enroll-code" className="mb-1 block text-sm font-medium">
          The 6-digit code your app shows now
        </label>
        <input id="enroll-code" name="code" autoComplete="one-time-code" inputMode="numeric" required className={inputStyles} />
      </div>
      <button type="submit" className={buttonStyles.primary} disabled={pending}>
        {pending ? 'Checking…' : 'Confirm'}
      </button>
    </form>
  );
}
