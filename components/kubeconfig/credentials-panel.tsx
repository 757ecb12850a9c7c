'use client';

import { useActionState } from 'react';
import type { CredentialsState } from '@/lib/portal/cluster-view';
import { buttonStyles } from '../ui/styles';
import { ShellTabs } from './shell-tabs';

type Action = (previous: CredentialsState, form: FormData) => Promise<CredentialsState>;

/**
 * "Get credentials": nothing is minted until the person asks. The button
 * posts the server action; its answer (the commands, with tokens) replaces
 * the button. Works without JavaScript too (the form posts and the page
 * comes back with the commands).
 */
export function CredentialsPanel({ action, cluster, csrf }: { action: Action; cluster: string; csrf: string }) {
  const [state, formAction, pending] = useActionState(action, { status: 'idle' });
  if (state.status === 'issued') {
    return (
      <div data-testid="credentials">
        <p role="status" className="mb-4 rounded-lg bg-emerald-50 p-3 text-sm text-emerald-900 dark:bg-emerald-950 dark:text-emerald-100">
          A new credential for context <code className="font-mono">{state.contextName}</code> was handed out to you. It is listed on your
          Sessions page, where you can revoke it.
        </p>
        <ShellTabs renderings={state.renderings} />
      </div>
    );
  }
  return (
    <form action={formAction} className="space-y-3">
      <input type="hidden" name="cluster" value={cluster} />
      <input type="hidden" name="csrf" value={csrf} />
      {state.status === 'refused' && (
        <p role="alert" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
          {state.message}
        </p>
      )}
      <button type="submit" className={buttonStyles.primary} disabled={pending} data-testid="get-credentials">
        {pending ? 'Getting credentials…' : 'Get credentials'}
      </button>
    </form>
  );
}
