import type { Metadata } from 'next';
import { Badge } from '@/components/ui/badge';
import { buttonStyles, cardStyles, cn } from '@/components/ui/styles';
import { endedSessionRows, sessionRows, type CredentialRow, type CredentialStatus } from '@/lib/portal/sessions-view';
import { requirePortalSession } from '@/lib/portal/session';
import { revokeCredentialAction, revokeSessionAction } from './actions';

export const metadata: Metadata = { title: 'Sessions' };

const STATUS: Record<CredentialStatus, string> = {
  active: 'active',
  idle: 'expired (unused)',
  expired: 'expired',
  revoked: 'revoked',
};

const DAY_MS = 24 * 3600 * 1000;

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

/** On a phone each cell shows its column name above the value (the header row is for screen readers only there). */
const CELL = 'py-2 align-top max-sm:py-0.5 max-sm:before:block max-sm:before:text-xs max-sm:before:font-sans max-sm:before:text-slate-500 max-sm:before:content-[attr(data-label)]';

function CredentialTableRow({ c }: { c: CredentialRow }) {
  return (
    <tr
      className="border-t border-slate-100 max-sm:grid max-sm:grid-cols-2 max-sm:gap-x-3 max-sm:gap-y-1 max-sm:py-3 dark:border-slate-800"
      data-testid="credential-row"
      data-origin={c.origin}
    >
      <td className={cn(CELL, 'font-mono break-all')} data-label="Cluster">
        {c.cluster}
      </td>
      <td className={CELL} data-label="From" data-testid="credential-origin">
        {c.originLabel}
      </td>
      <td className={CELL} data-label="Handed out">
        {time(c.createdAt)}
      </td>
      <td className={CELL} data-label="Last refreshed" data-testid="credential-refreshed">
        {c.lastRefreshedAt === null ? 'never' : time(c.lastRefreshedAt)}
      </td>
      <td className={cn(CELL, 'max-sm:col-span-2', c.status !== 'active' && 'text-slate-500 dark:text-slate-400')} data-label="Status" data-testid="credential-status">
        {STATUS[c.status]}
        {c.revokedBecause && <span className="block text-xs">{c.revokedBecause}</span>}
      </td>
      <td className="py-2 text-right align-top max-sm:col-span-2 max-sm:py-0 max-sm:text-left">
        {c.status === 'active' && (
          <form action={revokeCredentialAction}>
            <input type="hidden" name="credential" value={c.id} />
            <button type="submit" className={cn(buttonStyles.ghost, 'py-1 max-sm:px-0')}>
              Revoke
            </button>
          </form>
        )}
      </td>
    </tr>
  );
}

export default async function SessionsPage() {
  const { rt, user, session } = await requirePortalSession();
  const now = rt.now();
  const [sessions, families] = await Promise.all([rt.store.listLoginSessions({ userId: user.id }), rt.store.listFamilies({ userId: user.id })]);
  const rows = sessionRows(sessions, families, { now, currentSessionId: session.id, idleTimeoutMs: rt.config.issuer.refresh_idle_timeout * 1000 });
  const ended = endedSessionRows(sessions, families, { now, withinMs: DAY_MS, limit: 10 });
  const upstreamName = (id: string) => rt.config.upstreams.find((u) => u.id === id)?.display_name ?? id;
  return (
    <div className="space-y-6">
      <header>
        <h1 className="text-2xl font-semibold tracking-tight">Your sessions</h1>
        <p className="mt-1 max-w-2xl text-sm text-slate-600 dark:text-slate-400">
          Each sign-in and the kubectl credentials handed out from it. Revoking one stops its credentials within one id_token lifetime
          ({rt.config.issuer.id_token_lifetime}s).
        </p>
      </header>
      <ul className="space-y-4" data-testid="sessions">
        {rows.map((s) => (
          <li key={s.id} className={cardStyles} data-testid="session-row" data-current={s.current}>
            <div className="flex flex-wrap items-start justify-between gap-3">
              <div className="min-w-0">
                <p className="font-medium">
                  Signed in {time(s.createdAt)} with {upstreamName(s.upstream)} {s.current && <Badge>this browser</Badge>}
                </p>
                <p className="mt-1 text-sm break-words text-slate-600 dark:text-slate-400">
                  {s.clientIp ?? 'unknown address'} · {s.userAgent?.slice(0, 80) ?? 'unknown browser'} · ends {time(s.expiresAt)}
                </p>
              </div>
              <form action={revokeSessionAction} className="shrink-0">
                <input type="hidden" name="session" value={s.id} />
                <button type="submit" className={buttonStyles.secondary}>
                  {s.current ? 'Sign out and revoke' : 'Revoke'}
                </button>
              </form>
            </div>
            {s.credentials.length === 0 ? (
              <p className="mt-3 text-sm text-slate-500 dark:text-slate-400" data-testid="no-credentials">
                No credentials handed out from this sign-in.
              </p>
            ) : (
              <table className="mt-4 w-full text-left text-sm max-sm:block">
                <caption className="sr-only">Credentials from this sign-in</caption>
                <thead className="text-slate-500 max-sm:sr-only dark:text-slate-400">
                  <tr>
                    <th className="py-1 font-normal">Cluster</th>
                    <th className="py-1 font-normal">From</th>
                    <th className="py-1 font-normal">Handed out</th>
                    <th className="py-1 font-normal">Last refreshed</th>
                    <th className="py-1 font-normal">Status</th>
                    <th className="py-1">
                      <span className="sr-only">Action</span>
                    </th>
                  </tr>
                </thead>
                <tbody className="max-sm:block">
                  {s.credentials.map((c) => (
                    <CredentialTableRow key={c.id} c={c} />
                  ))}
                </tbody>
              </table>
            )}
          </li>
        ))}
      </ul>
      {ended.length > 0 && (
        <section aria-labelledby="ended-heading">
          <h2 id="ended-heading" className="mb-2 text-lg font-semibold">
            Ended in the last 24 hours
          </h2>
          <ul className="space-y-2 text-sm" data-testid="ended-sessions">
            {ended.map((s) => (
              <li key={s.id} className={cn(cardStyles, 'py-3')} data-testid="ended-session-row">
                Signed in {time(s.createdAt)} with {upstreamName(s.upstream)}; ended {time(s.endedAt)}:{' '}
                <span data-testid="ended-because">{s.endedBecause}</span>
                {s.credentialCount > 0 && (
                  <span className="text-slate-500 dark:text-slate-400">
                    {' '}
                    ({s.credentialCount} credential{s.credentialCount === 1 ? '' : 's'} ended with it)
                  </span>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
