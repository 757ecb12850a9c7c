import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { buttonStyles, cardStyles, cn, inputStyles } from '@/components/ui/styles';
import { signInErrorMessage } from '@/lib/portal/messages';
import { currentPortalSession } from '@/lib/portal/session';
import { getRuntime } from '@/lib/runtime-global';
import { signInLocal, signInWithUpstream } from './actions';

export const metadata: Metadata = { title: 'Sign in' };

export default async function LoginPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const [rt, params, current] = await Promise.all([getRuntime(), searchParams, currentPortalSession()]);
  if (current) redirect('/');
  const error = signInErrorMessage(params.error);
  const { branding, upstreams } = rt.config;
  const federated = upstreams.filter((u) => u.type === 'oidc');
  const local = upstreams.find((u) => u.type === 'local');
  return (
    <main className="flex min-h-screen items-center justify-center px-4 py-12">
      <div className="w-full max-w-sm">
        <div className="mb-8 text-center">
          <h1 className="text-2xl font-semibold tracking-tight">{branding.title}</h1>
          <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
            {branding.tagline ?? 'Sign in to get kubectl access to your clusters.'}
          </p>
        </div>
        <div className={cn(cardStyles, 'space-y-6')}>
          {error && (
            <p role="alert" id="login-error" className="rounded-lg bg-red-50 p-3 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
              {error}
            </p>
          )}
          {params.signed_out !== undefined && !error && (
            <p role="status" className="rounded-lg bg-emerald-50 p-3 text-sm text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200">
              You are signed out. Credentials handed out in that session stop working within a minute.
            </p>
          )}
          {federated.length > 0 && (
            <div className="space-y-3">
              {federated.map((u) => (
                <form key={u.id} action={signInWithUpstream}>
                  <input type="hidden" name="upstream" value={u.id} />
                  <button type="submit" className={cn(buttonStyles.primary, 'w-full')}>
                    Sign in with {u.display_name ?? u.id}
                  </button>
                </form>
              ))}
            </div>
          )}
          {federated.length > 0 && local && (
            <div className="flex items-center gap-3 text-xs text-slate-500 uppercase">
              <span className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
              or
              <span className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
            </div>
          )}
          {local && (
            <form action={signInLocal} className="space-y-4">
              <div>
                <label htmlFor="username" className="mb-1 block text-sm font-medium">
                  Username
                </label>
                <input id="username" name="username" autoComplete="username" required className={inputStyles} />
              </div>
              <div>
                <label htmlFor="password" className="mb-1 block text-sm font-medium">
                  Password
                </label>
                <input id="password" name="password" type="password" autoComplete="current-password" required className={inputStyles} />
              </div>
              <button type="submit" className={cn(federated.length ? buttonStyles.secondary : buttonStyles.primary, 'w-full')}>
                Sign in{federated.length ? ` with ${local.display_name ?? 'a local account'}` : ''}
              </button>
            </form>
          )}
          {upstreams.length === 0 && (
            <p className="text-sm text-slate-600 dark:text-slate-400">
              No sign-in method is configured. Add an entry under <code>upstreams</code> in the Kubegate configuration.
            </p>
          )}
        </div>
      </div>
    </main>
  );
}
