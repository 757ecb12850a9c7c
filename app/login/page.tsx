import type { Metadata } from 'next';
import { redirect } from 'next/navigation';
import { buttonStyles, cardStyles, cn, inputStyles } from '@/components/ui/styles';
import { signInErrorMessage } from '@/lib/portal/messages';
import { currentSignedIn } from '@/lib/portal/session';
import { getRuntime } from '@/lib/runtime-global';
import { safeNext } from '@/lib/upstream/redirect-flow';
import { upstreamsOf } from '@/lib/upstream/registry';
import { signInWithPassword, signInWithUpstream } from './actions';

export const metadata: Metadata = { title: 'Sign in' };

export default async function LoginPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const [rt, params, current] = await Promise.all([getRuntime(), searchParams, currentSignedIn()]);
  const next = safeNext(params.next);
  // Signed in already: on to where the person was going, through the second factor if it is still due;
  // unless prompt=login (the authorization endpoint's prompt=login or max_age): sign in again, though signed in.
  if (current && params.prompt !== 'login') redirect(current.stage === 'complete' ? next : `/mfa?next=${encodeURIComponent(next)}`);
  const error = signInErrorMessage(params.error);
  // OIDC login_hint (the authorization endpoint passes it on): the username, filled in, still editable.
  const loginHint = typeof params.login_hint === 'string' ? params.login_hint.slice(0, 256) : undefined;
  const { branding } = rt.config;
  const upstreams = [...upstreamsOf(rt.config).values()].map(({ config, connector }) => ({
    id: config.id,
    flow: connector.flow,
    ...connector.presentation(config as never),
  }));
  const buttons = upstreams.filter((u) => u.kind === 'button');
  const forms = upstreams.filter((u) => u.kind === 'password');
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
          {buttons.length > 0 && (
            <div className="space-y-3">
              {buttons.map((u) =>
                u.flow === 'redirect' ? (
                  // The connector's own route starts the flow: a plain GET, no server action round trip.
                  <form key={u.id} method="get" action={`/api/upstream/${encodeURIComponent(u.id)}/login`}>
                    <input type="hidden" name="next" value={next} />
                    <button type="submit" className={cn(buttonStyles.primary, 'w-full')}>
                      Sign in with {u.label}
                    </button>
                  </form>
                ) : (
                <form key={u.id} action={signInWithUpstream}>
                  <input type="hidden" name="upstream" value={u.id} />
                  <input type="hidden" name="next" value={next} />
                  <button type="submit" className={cn(buttonStyles.primary, 'w-full')}>
                    Sign in with {u.label}
                  </button>
                </form>
                ),
              )}
            </div>
          )}
          {forms.map((u, i) => (
            <div key={u.id} className="space-y-6">
              {(buttons.length > 0 || i > 0) && (
                <div className="flex items-center gap-3 text-xs text-slate-500 uppercase">
                  <span className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
                  or
                  <span className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
                </div>
              )}
              <form action={signInWithPassword} aria-label={`Sign in with ${u.label}`} className="space-y-4">
                <input type="hidden" name="upstream" value={u.id} />
                <input type="hidden" name="next" value={next} />
                <div>
                  <label htmlFor={`${u.id}-username`} className="mb-1 block text-sm font-medium">
                    {u.usernameLabel}
                  </label>
                  <input
                    id={`${u.id}-username`}
                    name="username"
                    autoComplete="username"
                    required
                    defaultValue={loginHint}
                    className={inputStyles}
                  />
                </div>
                <div>
                  <label htmlFor={`${u.id}-password`} className="mb-1 block text-sm font-medium">
                    Password
                  </label>
                  <input id={`${u.id}-password`} name="password" type="password" autoComplete="current-password" required className={inputStyles} />
                </div>
                <button type="submit" className={cn(buttons.length || forms.length > 1 ? buttonStyles.secondary : buttonStyles.primary, 'w-full')}>
                  {buttons.length || forms.length > 1 ? `Sign in with ${u.label}` : 'Sign in'}
                </button>
              </form>
            </div>
          ))}
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
