'use client';

import { startAuthentication, type AuthenticationResponseJSON, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { useState } from 'react';
import { buttonStyles, cn } from '../ui/styles';
import { browserMessage, type PasskeyCall } from './passkey-api';

/**
 * A button that runs a WebAuthn assertion: options from the server, the
 * ceremony in the browser, the verdict on the server (`finish`, which
 * navigates on success or returns why not). Shared by the second-factor
 * prompt and passkey-only sign-in.
 */
export function PasskeyAssertion({
  label,
  options,
  finish,
}: {
  label: string;
  options: () => Promise<PasskeyCall>;
  finish: (response: AuthenticationResponseJSON) => Promise<string | undefined>;
}) {
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  async function run() {
    setPending(true);
    setError(undefined);
    try {
      const offered = await options();
      if (!offered.ok) return setError(offered.message);
      let response;
      try {
        response = await startAuthentication({ optionsJSON: offered.body as unknown as PublicKeyCredentialRequestOptionsJSON });
      } catch (err) {
        return setError(browserMessage(err));
      }
      setError(await finish(response));
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
        {pending ? 'Waiting for your passkey…' : label}
      </button>
    </div>
  );
}
