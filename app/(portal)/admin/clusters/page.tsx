import type { Metadata } from 'next';
import Link from 'next/link';
import { buttonStyles, cardStyles, cn, inputStyles } from '@/components/ui/styles';
import { apiServerView } from '@/lib/portal/admin/apiserver-view';
import { requireAdmin } from '@/lib/portal/admin/context';
import { consoleHref, type SearchParams } from '@/lib/portal/admin/filters';
import { AdminNav, FilterErrors } from '../nav';

export const metadata: Metadata = { title: 'Admin: API servers' };

export default async function AdminClustersPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const params = await searchParams;
  const { rt } = await requireAdmin(consoleHref('/admin/clusters', { cluster: typeof params.cluster === 'string' ? params.cluster : undefined }));
  const view = apiServerView(rt.config, params);
  return (
    <div className="space-y-6">
      <header className="space-y-3">
        <h1 className="text-2xl font-semibold tracking-tight">Admin console</h1>
        <AdminNav current="clusters" />
        <p className="max-w-2xl text-sm text-slate-600 dark:text-slate-400">
          What each cluster&apos;s kube-apiserver needs to trust this issuer; <code>kubegate apiserver-config CLUSTER</code> prints the same. Use one of the two ways:
          kube-apiserver refuses <code>--authentication-config</code> together with <code>--oidc-*</code> flags.
        </p>
      </header>
      <FilterErrors errors={view.errors} />
      {view.selected === undefined ? (
        <p className="text-sm">The configuration has no clusters.</p>
      ) : (
        <>
          <nav aria-label="Clusters" className="flex flex-wrap gap-2">
            {view.clusters.map((c) => (
              <Link key={c} href={consoleHref('/admin/clusters', { cluster: c })} aria-current={c === view.selected ? 'page' : undefined} className={cn(c === view.selected ? buttonStyles.secondary : buttonStyles.ghost, 'font-mono')}>
                {c}
              </Link>
            ))}
          </nav>
          <form method="get" className="flex flex-wrap items-end gap-3" aria-label="Kubernetes version">
            <input type="hidden" name="cluster" value={view.selected} />
            <label className="text-sm">
              Kubernetes version
              <input name="version" defaultValue={`1.${view.kubernetesMinor}`} className={cn(inputStyles, 'w-28')} />
            </label>
            <button type="submit" className={buttonStyles.secondary}>
              Show
            </button>
          </form>
          {view.setup?.notes.map((n) => (
            <p key={n} className="text-sm text-amber-800 dark:text-amber-200">
              {n}
            </p>
          ))}
          {view.sections.map((s) => (
            <section key={s.title} className={cardStyles} data-testid="apiserver-section">
              <h2 className="mb-2 font-semibold">{s.title}</h2>
              <pre className="overflow-x-auto text-xs">{s.lines.join('\n')}</pre>
            </section>
          ))}
        </>
      )}
    </div>
  );
}
