'use client';

import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { useState } from 'react';
import { buttonStyles, cn } from '../ui/styles';
import { browserMessage, postPasskey } from './passkey-api';

/** "Use a passkey" at the second-factor prompt: the ceremony in the browser, the verdict on the server. */
export function PasskeySignIn({ csrf, next }: { csrf: string; next: string }) {
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  async function run() {
    setPending(true);
    setError(undefined);
    try {
      const options = await postPasskey('authenticate-options', { csrf });
      if (!options.ok) return setError(options.message);
      let response;
      try {
        response = await startAuthentication({ optionsJSON: options.body as unknown as PublicKeyCredentialRequestOptionsJSON });
      } catch (err) {
        return setError(browserMessage(err));
      }
      const verdict = await postPasskey('authenticate', { csrf, next, response });
      if (!verdict.ok) return setError(verdict.message);
      window.location.assign(String(verdict.body.next ?? '/'));
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
        {pending ? 'Waiting for your passkey…' : 'Use a passkey'}
      </button>
    </div>
  );
}
