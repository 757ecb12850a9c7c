'use client';

import { startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { useState, type FormEvent } from 'react';
import { buttonStyles, cn, inputStyles } from '../ui/styles';
import { browserMessage, postPasskey } from './passkey-api';
import { RecoveryCodes } from './recovery-codes';

/**
 * Registers a passkey under a name the person chooses. The first factor a
 * person sets up comes with recovery codes, shown here once; otherwise the
 * browser goes on to `next` (the security page reloads itself).
 */
export function PasskeyEnroll({ csrf, next, label = 'Set up a passkey' }: { csrf: string; next: string; label?: string }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  const [pending, setPending] = useState(false);
  const [done, setDone] = useState<{ codes: string[]; next: string }>();
  async function run(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    try {
      const options = await postPasskey('register-options', { csrf });
      if (!options.ok) return setError(options.message);
      let response;
      try {
        response = await startRegistration({ optionsJSON: options.body as unknown as PublicKeyCredentialCreationOptionsJSON });
      } catch (err) {
        return setError(browserMessage(err));
      }
      const verdict = await postPasskey('register', { csrf, next, name: name.trim() || 'Passkey', response });
      if (!verdict.ok) return setError(verdict.message);
      const target = String(verdict.body.next ?? '/');
      const codes = verdict.body.recoveryCodes;
      if (Array.isArray(codes) && codes.length > 0) setDone({ codes: codes.map(String), next: target });
      else window.location.assign(target);
    } finally {
      setPending(false);
    }
  }
  if (done) {
    return (
      <div className="space-y-4" data-testid="passkey-enrolled">
        <p role="status" className="rounded-lg bg-emerald-50 p-3 text-sm text-emerald-900 dark:bg-emerald-950 dark:text-emerald-100">
          Your passkey is set up.
        </p>
        <RecoveryCodes codes={done.codes} />
        <a href={done.next} className={buttonStyles.primary}>
          I have saved my recovery codes: continue
        </a>
      </div>
    );
  }
  return (
    <form onSubmit={run} className="space-y-3">
      {error && (
        <p role="alert" id="passkey-error" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
          {error}
        </p>
      )}
      <div>
        <label htmlFor="passkey-name" className="mb-1 block text-sm font-medium">
          Passkey name
        </label>
        <input
          id="passkey-name"
          name="name"
          maxLength={60}
          placeholder="e.g. Work laptop, YubiKey"
          value={name}
          onChange={(e) => setName(e.target.value)}
          className={inputStyles}
        />
      </div>
      <button type="submit" disabled={pending} className={cn(buttonStyles.primary, 'w-full')}>
        {pending ? 'Waiting for your passkey…' : label}
      </button>
    </form>
  );
}
