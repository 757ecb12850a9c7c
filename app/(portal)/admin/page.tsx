import type { Metadata } from 'next';
import Link from 'next/link';
import { Badge } from '@/components/ui/badge';
import { buttonStyles, cardStyles, cn, inputStyles } from '@/components/ui/styles';
import { csrfToken } from '@/lib/auth/csrf';
import { consoleHref, type SearchParams } from '@/lib/portal/admin/filters';
import { requireAdmin } from '@/lib/portal/admin/context';
import { adminNotice, adminSessionRows, parseSessionFilters, SESSION_STATES } from '@/lib/portal/admin/sessions';
import type { User } from '@/lib/store/types';
import { adminRevokeCredentialAction, adminRevokeSessionAction, adminRevokeUserAction } from './actions';
import { AdminNav, FilterErrors, time } from './nav';

export const metadata: Metadata = { title: 'Admin: sessions' };

export default async function AdminSessionsPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const params = await searchParams;
  const { filters, errors } = parseSessionFilters(params);
  const here = consoleHref('/admin', { user: filters.user, cluster: filters.cluster, group: filters.group, upstream: filters.upstream, state: filters.state, page: filters.page });
  const { rt, session } = await requireAdmin(here);
  const now = rt.now();
  const [sessions, families] = await Promise.all([rt.store.listLoginSessions(filters.state === 'active' ? { activeAt: now } : {}), rt.store.listFamilies({})]);
  const users = new Map<string, User>();
  for (const id of new Set(sessions.map((s) => s.user_id))) {
    const u = await rt.store.getUser(id);
    if (u) users.set(id, u);
  }
  const { rows, total, pages } = adminSessionRows({ sessions, families, users }, filters, { now, idleTimeoutMs: rt.config.issuer.refresh_idle_timeout * 1000 });
  const csrf = csrfToken(rt.authSecret, session.id);
  const notice = adminNotice(params.notice);
  const hidden = (target: string) => (
    <>
      <input type="hidden" name="target" value={target} />
      <input type="hidden" name="csrf" value={csrf} />
      <input type="hidden" name="back" value={here} />
    </>
  );
  return (
    <div className="space-y-6">
      <header className="space-y-3">
        <h1 className="text-2xl font-semibold tracking-tight">Admin console</h1>
        <AdminNav current="sessions" />
      </header>
      {notice && (
        <p role="status" className="text-sm" data-testid="admin-notice">
          {notice}
        </p>
      )}
      <FilterErrors errors={errors} />
      <form method="get" className="grid grid-cols-2 gap-3 sm:grid-cols-6" aria-label="Filter sessions">
        {(['user', 'cluster', 'group', 'upstream'] as const).map((f) => (
          <label key={f} className="text-sm">
            <span className="capitalize">{f}</span>
            <input name={f} defaultValue={filters[f] ?? ''} className={inputStyles} />
          </label>
        ))}
        <label className="text-sm">
          State
          <select name="state" defaultValue={filters.state} className={inputStyles}>
            {SESSION_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <div className="flex items-end">
          <button type="submit" className={cn(buttonStyles.secondary, 'w-full')}>
            Filter
          </button>
        </div>
      </form>
      <p className="text-sm text-slate-600 dark:text-slate-400" data-testid="admin-session-count">
        {total} sign-in{total === 1 ? '' : 's'}
        {pages > 1 && ` · page ${Math.min(filters.page, pages)} of ${pages}`}
      </p>
      <ul className="space-y-4" data-testid="admin-sessions">
        {rows.map((s) => (
          <li key={s.id} className={cardStyles} data-testid="admin-session-row" data-username={s.username}>
            <div className="flex flex-wrap items-start justify-between gap-3">
              <div className="min-w-0">
                <p className="font-medium break-all">
                  {s.username} {s.mfa && <Badge>mfa</Badge>} {s.endedAt !== null && <Badge>ended: {s.endedBecause}</Badge>}
                </p>
                <p className="mt-1 text-sm break-words text-slate-600 dark:text-slate-400">
                  via {s.upstream} · signed in {time(s.createdAt)} · {s.endedAt === null ? `ends ${time(s.expiresAt)}` : `ended ${time(s.endedAt)}`} ·{' '}
                  {s.clientIp ?? 'unknown address'} · {s.userAgent?.slice(0, 60) ?? 'unknown browser'}
                </p>
                {s.groups.length > 0 && <p className="mt-1 text-xs break-words text-slate-500">groups: {s.groups.join(', ')}</p>}
              </div>
              <div className="flex shrink-0 flex-wrap gap-2">
                {s.endedAt === null && (
                  <form action={adminRevokeSessionAction}>
                    {hidden(s.id)}
                    <button type="submit" className={buttonStyles.secondary} data-testid="admin-revoke-session">
                      Revoke sign-in
                    </button>
                  </form>
                )}
                <form action={adminRevokeUserAction}>
                  {hidden(s.username)}
                  <button type="submit" className={buttonStyles.ghost} data-testid="admin-revoke-user">
                    Revoke user everywhere
                  </button>
                </form>
              </div>
            </div>
            {s.credentials.length > 0 && (
              <ul className="mt-3 space-y-1 text-sm">
                {s.credentials.map((c) => (
                  <li key={c.id} className="flex flex-wrap items-center justify-between gap-2 border-t border-slate-100 pt-1 dark:border-slate-800" data-testid="admin-credential-row">
                    <span className="min-w-0 break-all">
                      <span className="font-mono">{c.cluster}</span> · {c.originLabel} · {time(c.createdAt)} · {c.status}
                    </span>
                    {c.status === 'active' && (
                      <form action={adminRevokeCredentialAction}>
                        {hidden(c.id)}
                        <button type="submit" className={cn(buttonStyles.ghost, 'py-1')}>
                          Revoke credential
                        </button>
                      </form>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
      {pages > 1 && (
        <nav aria-label="Pages" className="flex gap-3 text-sm">
          {filters.page > 1 && <Link href={consoleHref('/admin', { ...filters, page: filters.page - 1 })}>Newer</Link>}
          {filters.page < pages && <Link href={consoleHref('/admin', { ...filters, page: filters.page + 1 })}>Older</Link>}
        </nav>
      )}
    </div>
  );
}
