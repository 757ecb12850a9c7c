'use server';

import { AuthError } from 'next-auth';
import { redirect, unstable_rethrow } from 'next/navigation';
import { signIn } from '@/lib/auth/next-auth';
import { getRuntime } from '@/lib/runtime-global';

/** Starts the authorization-code flow with an upstream OIDC provider. */
export async function signInWithUpstream(formData: FormData): Promise<void> {
  const rt = await getRuntime();
  const id = formData.get('upstream');
  const upstream = rt.config.upstreams.find((u) => u.id === id && u.type === 'oidc');
  if (!upstream) redirect('/login?error=unknown_upstream');
  try {
    await signIn(upstream.id, { redirectTo: '/' });
  } catch (err) {
    unstable_rethrow(err);
    rt.log.warn('upstream sign-in could not start', { upstream: upstream.id, error: err instanceof Error ? err.name : String(err) });
    redirect('/login?error=Configuration');
  }
}

/** Signs in a local (config-file) user. */
export async function signInLocal(formData: FormData): Promise<void> {
  const rt = await getRuntime();
  const upstream = rt.config.upstreams.find((u) => u.type === 'local');
  if (!upstream) redirect('/login?error=unknown_upstream');
  try {
    await signIn(upstream.id, {
      username: String(formData.get('username') ?? ''),
      password: String(formData.get('password') ?? ''),
      redirectTo: '/',
    });
  } catch (err) {
    unstable_rethrow(err);
    if (err instanceof AuthError && err.type === 'CredentialsSignin') {
      const code = (err as AuthError & { code?: string }).code;
      redirect(`/login?error=${code === 'rate_limited' ? 'rate_limited' : 'credentials'}`);
    }
    rt.log.error('local sign-in failed', { error: err instanceof Error ? err.name : String(err) });
    redirect('/login?error=Default');
  }
}
