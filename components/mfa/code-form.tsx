'use client';

import { useActionState } from 'react';
import type { MfaFormState } from '@/lib/portal/mfa-view';
import { buttonStyles, inputStyles } from '../ui/styles';

type Action = (previous: MfaFormState, form: FormData) => Promise<MfaFormState>;

/** The second-factor prompt: one field takes an authenticator code or a recovery code. */
export function CodeForm({ action, csrf, next }: { action: Action; csrf: string; next: string }) {
  const [state, formAction, pending] = useActionState(action, { status: 'idle' });
  return (
    <form action={formAction} className="space-y-4">
      <input type="hidden" name="csrf" value={csrf} />
      <input type="hidden" name="next" value={next} />
      {state.status === 'refused' && (
        <p role="alert" id="mfa-error" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
          {state.message}
        </p>
      )}
      <div>
        <label htmlFor="mfa-code" className="mb-1 block text-sm font-medium">
          Code from your authenticator app, or a recovery code
        </label>
        <input id="mfa-code" name="code" autoComplete="one-time-code" inputMode="text" required autoFocus className={inputStyles} />
      </div>
      <button type="submit" className={buttonStyles.primary} disabled={pending}>
        {pending ? 'Checking…' : 'Verify'}
      </button>
    </form>
  );
}
