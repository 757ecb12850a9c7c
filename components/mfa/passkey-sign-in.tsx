'use client';

import { postPasskey } from './passkey-api';
import { PasskeyAssertion } from './passkey-assertion';

/** "Use a passkey" at the second-factor prompt: the ceremony in the browser, the verdict on the server. */
export function PasskeySignIn({ csrf, next }: { csrf: string; next: string }) {
  return (
    <PasskeyAssertion
      label="Use a passkey"
      options={() => postPasskey('authenticate-options', { csrf })}
      finish={async (response) => {
        const verdict = await postPasskey('authenticate', { csrf, next, response });
        if (!verdict.ok) return verdict.message;
        window.location.assign(String(verdict.body.next ?? '/'));
        return undefined;
      }}
    />
  );
}
