'use client';

import { postPasskey } from './passkey-api';
import { PasskeyAssertion } from './passkey-assertion';

type Action = (response: string, next: string) => Promise<{ message: string }>;

/** "Sign in with a passkey" (local accounts, where configured): the authenticator says who, the server checks. */
export function PasskeyLogin({ action, next }: { action: Action; next: string }) {
  return (
    <PasskeyAssertion
      label="Sign in with a passkey"
      options={() => postPasskey('login-options', {})}
      // On success the action redirects (the router follows); otherwise it says why.
      finish={async (response) => (await action(JSON.stringify(response), next)).message}
    />
  );
}
