import type { Metadata } from 'next';
import { headers } from 'next/headers';
import Link from 'next/link';
import { redirect } from 'next/navigation';
import { buttonStyles, cardStyles, cn, inputStyles } from '@/components/ui/styles';
import { lookupUserCode, type LookupResult } from '@/lib/oidc/device';
import { sessionHasMfa } from '@/lib/mfa/policy';
import { portalSession } from '@/lib/portal/session';
import { approveDeviceAction, denyDeviceAction } from './actions';

export const metadata: Metadata = { title: 'Sign in a device' };

const RESULTS: Record<string, { tone: 'ok' | 'bad'; text: string }> = {
  approved: { tone: 'ok', text: 'Approved. The device gets its credential within a few seconds; you can close this page.' },
  denied: { tone: 'ok', text: 'Denied. The device was told no.' },
  not_found: { tone: 'bad', text: 'That code is unknown, was already used, or has expired. Start the sign-in on the device again.' },
  not_allowed: { tone: 'bad', text: 'Your groups do not give you access to that cluster.' },
  malformed: { tone: 'bad', text: 'A code is 8 letters, shown as XXXX-XXXX.' },
  rate_limited: { tone: 'bad', text: 'Too many codes tried from here. Wait a minute and try again.' },
};

function Notice({ tone, children }: { tone: 'ok' | 'bad'; children: React.ReactNode }) {
  const style = tone === 'ok' ? 'bg-emerald-50 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200' : 'bg-red-50 text-red-800 dark:bg-red-950 dark:text-red-200';
  return (
    <p role={tone === 'ok' ? 'status' : 'alert'} data-testid="device-result" className={cn('rounded-lg p-3 text-sm', style)}>
      {children}
    </p>
  );
}

/**
 * /device (RFC 8628 §3.3): the person types the code their device shows,
 * or follows verification_uri_complete, sees which client asks for which
 * cluster, and approves or denies. Nothing is approved by opening a link.
 */
/*
 * Outside the (portal) group on purpose: that layout sends a signed-out
 * browser to /login without a way back, and a person following
 * verification_uri_complete must return here with the code after signing in.
 */
export default async function DevicePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const [s, params] = await Promise.all([portalSession(), searchParams]);
  const userCode = typeof params.user_code === 'string' ? params.user_code : undefined;
  if (s.status !== 'active') {
    const back = userCode ? `/device?user_code=${encodeURIComponent(userCode)}` : '/device';
    redirect(`/login?${new URLSearchParams({ ...(s.status === 'ended' ? { error: s.reason } : {}), next: back }).toString()}`);
  }
  const { rt, user } = s.ctx;
  const result = typeof params.result === 'string' ? RESULTS[params.result] : undefined;
  let lookup: LookupResult | undefined;
  if (userCode !== undefined && !result) {
    lookup = await lookupUserCode(rt.authzDeps, userCode, { user, clientIp: (await headers()).get('x-kubegate-client-ip') });
    // Step-up before approving for a cluster that asks for a second factor this session has not shown.
    if (lookup.status === 'found' && rt.clusters.get(lookup.view.cluster)?.require_mfa && !sessionHasMfa(s.ctx.session)) {
      redirect(`/mfa?next=${encodeURIComponent(`/device?user_code=${userCode}`)}`);
    }
  }
  return (
    <main className="mx-auto max-w-lg space-y-6 px-4 py-12">
      <header>
        <h1 className="text-2xl font-semibold tracking-tight">Sign in a device</h1>
        <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
          Enter the code your terminal shows (kubectl oidc-login with <code className="font-mono">--grant-type=device-code</code>).
        </p>
      </header>
      {result && <Notice tone={result.tone}>{result.text}</Notice>}
      {lookup && lookup.status !== 'found' && (
        <Notice tone="bad">{lookup.status === 'rate_limited' ? `Too many codes tried from here. Try again in ${lookup.retryAfterSeconds} s.` : RESULTS[lookup.status]!.text}</Notice>
      )}
      {lookup?.status === 'found' ? (
        <section className={cardStyles} aria-labelledby="confirm-heading" data-testid="device-request">
          <h2 id="confirm-heading" className="text-lg font-semibold">
            Approve access to {lookup.view.clusterDisplayName}?
          </h2>
          <dl className="mt-3 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
            <dt className="text-slate-500">Code</dt>
            <dd className="font-mono" data-testid="device-user-code">{lookup.view.userCode}</dd>
            <dt className="text-slate-500">Cluster</dt>
            <dd data-testid="device-cluster">
              {lookup.view.clusterDisplayName} <span className="font-mono text-slate-500">({lookup.view.cluster})</span>
            </dd>
            <dt className="text-slate-500">Client</dt>
            <dd className="font-mono" data-testid="device-client">{lookup.view.clientId}</dd>
            <dt className="text-slate-500">As</dt>
            <dd>{user.username}</dd>
          </dl>
          <p className="mt-3 text-sm text-slate-600 dark:text-slate-400">
            Approve only if you started this sign-in yourself and the code matches the one on your device. The device gets a kubectl credential
            for this cluster, tied to this sign-in.
          </p>
          {!lookup.view.allowed && <Notice tone="bad">{RESULTS.not_allowed!.text}</Notice>}
          <div className="mt-4 flex gap-3">
            {lookup.view.allowed && (
              <form action={approveDeviceAction}>
                <input type="hidden" name="user_code" value={lookup.view.userCode} />
                <button type="submit" className={buttonStyles.primary}>
                  Approve
                </button>
              </form>
            )}
            <form action={denyDeviceAction}>
              <input type="hidden" name="user_code" value={lookup.view.userCode} />
              <button type="submit" className={buttonStyles.secondary}>
                Deny
              </button>
            </form>
          </div>
        </section>
      ) : (
        <form method="get" action="/device" className={cn(cardStyles, 'space-y-4')}>
          <div>
            <label htmlFor="user_code" className="mb-1 block text-sm font-medium">
              Code
            </label>
            <input
              id="user_code"
              name="user_code"
              required
              autoComplete="off"
              autoCapitalize="characters"
              spellCheck={false}
              placeholder="XXXX-XXXX"
              maxLength={20}
              className={cn(inputStyles, 'font-mono tracking-widest uppercase')}
            />
          </div>
          <button type="submit" className={buttonStyles.primary}>
            Continue
          </button>
        </form>
      )}
      <p className="text-sm">
        <Link href="/" className="text-indigo-700 hover:underline dark:text-indigo-300">
          {rt.config.branding.title}: your clusters
        </Link>
      </p>
    </main>
  );
}
