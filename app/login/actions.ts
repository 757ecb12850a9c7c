'use server';

import { AuthError } from 'next-auth';
import { redirect, unstable_rethrow } from 'next/navigation';
import { signIn } from '@/lib/auth/next-auth';
import { getRuntime } from '@/lib/runtime-global';
import { safeNext } from '@/lib/upstream/redirect-flow';
import { upstreamsOf } from '@/lib/upstream/registry';

/** The upstream a sign-in form names, or back to the page with a message. */
async function chosenUpstream(formData: FormData) {
  const rt = await getRuntime();
  const bound = upstreamsOf(rt.config).get(String(formData.get('upstream') ?? ''));
  if (!bound) redirect('/login?error=unknown_upstream');
  return { rt, bound, next: safeNext(formData.get('next')) };
}

/** A button of an OAuth/OIDC upstream: Auth.js runs the redirect. (SAML buttons GET their connector's route.) */
export async function signInWithUpstream(formData: FormData): Promise<void> {
  const { rt, bound, next } = await chosenUpstream(formData);
  const id = bound.config.id;
  if (bound.connector.flow !== 'oauth') redirect('/login?error=unknown_upstream');
  try {
    await signIn(id, { redirectTo: next });
  } catch (err) {
    unstable_rethrow(err);
    rt.log.warn('upstream sign-in could not start', { upstream: id, error: err instanceof Error ? err.name : String(err) });
    redirect('/login?error=Configuration');
  }
}

/** A username/password form (local accounts, LDAP). */
export async function signInWithPassword(formData: FormData): Promise<void> {
  const { rt, bound, next } = await chosenUpstream(formData);
  if (bound.connector.flow !== 'password') redirect('/login?error=unknown_upstream');
  try {
    await signIn(bound.config.id, {
      username: String(formData.get('username') ?? ''),
      password: String(formData.get('password') ?? ''),
      redirectTo: next,
    });
  } catch (err) {
    unstable_rethrow(err);
    if (err instanceof AuthError && err.type === 'CredentialsSignin') {
      const code = (err as AuthError & { code?: string }).code;
      redirect(`/login?error=${encodeURIComponent(code === 'bad_credentials' || !code ? 'credentials' : code)}`);
    }
    rt.log.error('password sign-in failed', { upstream: bound.config.id, error: err instanceof Error ? err.name : String(err) });
    redirect('/login?error=Default');
  }
}
