'use client';

import { useActionState } from 'react';
import type { MfaFormState } from '@/lib/portal/mfa-view';
import { buttonStyles } from '../ui/styles';
import { RecoveryCodes } from './recovery-codes';

type Action = (previous: MfaFormState, form: FormData) => Promise<MfaFormState>;

/** New recovery codes replace every old one; shown once. */
export function RegenerateCodes({ action, csrf }: { action: Action; csrf: string }) {
  const [state, formAction, pending] = useActionState(action, { status: 'idle' });
  if (state.status === 'regenerated') return <RecoveryCodes codes={state.recoveryCodes} />;
  return (
    <form action={formAction} className="space-y-2">
      <input type="hidden" name="csrf" value={csrf} />
      {state.status === 'refused' && (
        <p role="alert" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
          {state.message}
        </p>
      )}
      <button type="submit" className={buttonStyles.secondary} disabled={pending}>
        New recovery codes
      </button>
    </form>
  );
}
