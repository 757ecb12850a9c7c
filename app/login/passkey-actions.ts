'use server';

import { AuthError } from 'next-auth';
import { cookies } from 'next/headers';
import { unstable_rethrow } from 'next/navigation';
import { PASSKEY_PROVIDER, signIn } from '@/lib/auth/next-auth';
import { LOGIN_FLOW_COOKIE } from '@/lib/mfa/passkey-login';
import { signInErrorMessage } from '@/lib/portal/messages';
import { getRuntime } from '@/lib/runtime-global';
import { safeNext } from '@/lib/upstream/redirect-flow';

/**
 * A passkey as the whole sign-in (local accounts, `mfa.passwordless_local`):
 * the browser's assertion, with this browser's flow cookie, to the Auth.js
 * provider that verifies it; on success Auth.js redirects to `next`.
 */
export async function signInWithPasskey(response: string, next: string): Promise<{ message: string }> {
  const jar = await cookies();
  const flow = jar.get(LOGIN_FLOW_COOKIE)?.value ?? '';
  jar.delete(LOGIN_FLOW_COOKIE);
  try {
    await signIn(PASSKEY_PROVIDER, { flow, response: String(response).slice(0, 64 * 1024), redirectTo: safeNext(next) });
  } catch (err) {
    unstable_rethrow(err);
    if (err instanceof AuthError && err.type === 'CredentialsSignin') {
      const code = (err as AuthError & { code?: string }).code ?? 'bad_credentials';
      if (code === 'bad_credentials' || code === 'invalid_response' || code === 'not_allowed') {
        return { message: 'That passkey was not accepted. Try again, or sign in with your username and password.' };
      }
      return { message: signInErrorMessage(code) ?? 'That passkey was not accepted.' };
    }
    (await getRuntime()).log.error('passkey sign-in failed', { error: err instanceof Error ? err.name : String(err) });
    return { message: signInErrorMessage('Default') ?? 'Sign-in failed.' };
  }
  return { message: 'Sign-in failed.' };
}
