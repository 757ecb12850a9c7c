import type { Metadata } from 'next';
import { Badge } from '@/components/ui/badge';
import { buttonStyles, cardStyles, cn } from '@/components/ui/styles';
import { sessionRows, type CredentialStatus } from '@/lib/portal/sessions-view';
import { requirePortalSession } from '@/lib/portal/session';
import { revokeCredentialAction, revokeSessionAction } from './actions';

export const metadata: Metadata = { title: 'Sessions' };

const STATUS: Record<CredentialStatus, string> = {
  active: 'active',
  idle: 'expired (unused)',
  expired: 'expired',
  revoked: 'revoked',
};

const time = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

export default async function SessionsPage() {
  const { rt, user, session } = await requirePortalSession();
  const now = rt.now();
  const [sessions, families] = await Promise.all([
    rt.store.listLoginSessions({ userId: user.id, activeAt: now }),
    rt.store.listFamilies({ userId: user.id }),
  ]);
  const rows = sessionRows(sessions, families, { now, currentSessionId: session.id, idleTimeoutMs: rt.config.issuer.refresh_idle_timeout * 1000 });
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
              <div>
                <p className="font-medium">
                  Signed in {time(s.createdAt)} with {rt.config.upstreams.find((u) => u.id === s.upstream)?.display_name ?? s.upstream}{' '}
                  {s.current && <Badge>this browser</Badge>}
                </p>
                <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
                  {s.clientIp ?? 'unknown address'} · {s.userAgent?.slice(0, 80) ?? 'unknown browser'} · ends {time(s.expiresAt)}
                </p>
              </div>
              <form action={revokeSessionAction}>
                <input type="hidden" name="session" value={s.id} />
                <button type="submit" className={buttonStyles.secondary}>
                  {s.current ? 'Sign out and revoke' : 'Revoke'}
                </button>
              </form>
            </div>
            {s.credentials.length > 0 && (
              <table className="mt-4 w-full text-left text-sm">
                <caption className="sr-only">Credentials from this sign-in</caption>
                <thead className="text-slate-500 dark:text-slate-400">
                  <tr>
                    <th className="py-1 font-normal">Cluster</th>
                    <th className="py-1 font-normal">Handed out</th>
                    <th className="hidden py-1 font-normal sm:table-cell">Last refreshed</th>
                    <th className="py-1 font-normal">Status</th>
                    <th className="py-1">
                      <span className="sr-only">Action</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {s.credentials.map((c) => (
                    <tr key={c.id} className="border-t border-slate-100 dark:border-slate-800" data-testid="credential-row">
                      <td className="py-2 font-mono">{c.cluster}</td>
                      <td className="py-2">{time(c.createdAt)}</td>
                      <td className="hidden py-2 sm:table-cell">{time(c.lastUsedAt)}</td>
                      <td className={cn('py-2', c.status !== 'active' && 'text-slate-500')}>{STATUS[c.status]}</td>
                      <td className="py-2 text-right">
                        {c.status === 'active' && (
                          <form action={revokeCredentialAction}>
                            <input type="hidden" name="credential" value={c.id} />
                            <button type="submit" className={cn(buttonStyles.ghost, 'py-1')}>
                              Revoke
                            </button>
                          </form>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
