import type { Metadata } from 'next';
import Link from 'next/link';
import { MergeRecipes } from '@/components/kubeconfig/merge-recipes';
import { Badge } from '@/components/ui/badge';
import { buttonStyles, cardStyles, cn } from '@/components/ui/styles';
import { clustersFor } from '@/lib/access';
import { csrfToken } from '@/lib/auth/csrf';
import { kubeconfigFileName, mergeRecipes } from '@/lib/portal/cluster-view';
import { requirePortalSession } from '@/lib/portal/session';
import { formatDuration } from '@/lib/util/duration';

export const metadata: Metadata = { title: 'Your clusters' };

export default async function HomePage() {
  const { rt, user, session } = await requirePortalSession();
  const clusters = clustersFor(rt.config.clusters, user.groups);
  const remaining = formatDuration((session.expires_at - rt.now()) / 1000);
  const upstream = rt.config.upstreams.find((u) => u.id === session.upstream);
  return (
    <div className="space-y-8">
      <section className={cardStyles} aria-labelledby="whoami">
        <h1 id="whoami" className="text-xl font-semibold">
          Signed in as <span data-testid="username">{user.username}</span>
        </h1>
        <dl className="mt-4 grid gap-4 text-sm sm:grid-cols-3">
          <div>
            <dt className="text-slate-500 dark:text-slate-400">Groups</dt>
            <dd className="mt-1 flex flex-wrap gap-1" data-testid="groups">
              {user.groups.length ? user.groups.map((g) => <Badge key={g}>{g}</Badge>) : <span>none</span>}
            </dd>
          </div>
          <div>
            <dt className="text-slate-500 dark:text-slate-400">Signed in with</dt>
            <dd className="mt-1">{upstream?.display_name ?? session.upstream}</dd>
          </div>
          <div>
            <dt className="text-slate-500 dark:text-slate-400">Session ends in</dt>
            <dd className="mt-1" data-testid="session-remaining">
              {remaining}
            </dd>
          </div>
        </dl>
      </section>

      <section aria-labelledby="clusters-heading">
        <div className="mb-4 flex flex-wrap items-center justify-between gap-3">
          <h2 id="clusters-heading" className="text-lg font-semibold">
            Your clusters
          </h2>
          {clusters.length > 0 && (
            <form method="post" action="/kubeconfig">
              <input type="hidden" name="csrf" value={csrfToken(rt.authSecret, session.id)} />
              <button type="submit" className={buttonStyles.secondary}>
                Download kubeconfig for all clusters
              </button>
            </form>
          )}
        </div>
        {clusters.length === 0 ? (
          <div className={cn(cardStyles, 'text-center')} data-testid="empty-state">
            <p className="font-medium">No clusters are open to your groups yet.</p>
            <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
              Access is granted by group membership. Ask your platform team to add one of your groups
              {user.groups.length ? ` (${user.groups.join(', ')})` : ''} to a cluster&apos;s <code>allowed_groups</code>, or to add you to a
              group that has access.
            </p>
          </div>
        ) : (
          <ul className="grid gap-4 sm:grid-cols-2">
            {clusters.map((c) => (
              <li key={c.name}>
                <Link
                  href={`/clusters/${c.name}`}
                  className={cn(
                    cardStyles,
                    'block h-full transition-shadow hover:shadow-md focus-visible:outline-2 focus-visible:outline-indigo-500',
                  )}
                  data-testid={`cluster-card-${c.name}`}
                >
                  <h3 className="font-semibold">{c.display_name ?? c.name}</h3>
                  <p className="mt-1 font-mono text-xs break-all text-slate-500 dark:text-slate-400">{c.server}</p>
                  {c.description && <p className="mt-3 text-sm text-slate-600 dark:text-slate-300">{c.description}</p>}
                  <p className="mt-4 text-sm font-medium text-indigo-700 dark:text-indigo-300">Get kubectl access →</p>
                </Link>
              </li>
            ))}
          </ul>
        )}
        {clusters.length > 0 && <MergeRecipes recipes={mergeRecipes(kubeconfigFileName())} fileName={kubeconfigFileName()} />}
      </section>
    </div>
  );
}
