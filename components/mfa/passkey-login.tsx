'use client';

import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { useState } from 'react';
import { buttonStyles, cn } from '../ui/styles';
import { browserMessage, postPasskey } from './passkey-api';

type Action = (response: string, next: string) => Promise<{ message: string }>;

/** "Sign in with a passkey" (local accounts, where configured): the authenticator says who, the server checks. */
export function PasskeyLogin({ action, next }: { action: Action; next: string }) {
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  async function run() {
    setPending(true);
    setError(undefined);
    try {
      const options = await postPasskey('login-options', {});
      if (!options.ok) return setError(options.message);
      let response;
      try {
        response = await startAuthentication({ optionsJSON: options.body as unknown as PublicKeyCredentialRequestOptionsJSON });
      } catch (err) {
        return setError(browserMessage(err));
      }
      // On success the action redirects (the router follows); otherwise it says why.
      const refused = await action(JSON.stringify(response), next);
      setError(refused.message);
    } finally {
      setPending(false);
    }
  }
  return (
    <div className="space-y-3">
      {error && (
        <p role="alert" id="passkey-error" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
          {error}
        </p>
      )}
      <button type="button" onClick={run} disabled={pending} className={cn(buttonStyles.primary, 'w-full')}>
        {pending ? 'Waiting for your passkey…' : 'Sign in with a passkey'}
      </button>
    </div>
  );
}
