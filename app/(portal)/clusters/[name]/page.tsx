import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { ShellTabs } from '@/components/kubeconfig/shell-tabs';
import { MergeRecipes } from '@/components/kubeconfig/merge-recipes';
import { buttonStyles, cardStyles } from '@/components/ui/styles';
import { csrfToken } from '@/lib/auth/csrf';
import { kubeconfigFileName, renderAllShells } from '@/lib/portal/cluster-view';
import { credentialDeps, issueClusterCredential, NoAccessError } from '@/lib/portal/credentials';
import { requirePortalSession } from '@/lib/portal/session';
import { formatDuration } from '@/lib/util/duration';
import { headers } from 'next/headers';

export const metadata: Metadata = { title: 'Cluster access' };

export default async function ClusterPage({ params }: { params: Promise<{ name: string }> }) {
  const [{ rt, user, session }, { name }, h] = await Promise.all([requirePortalSession(), params, headers()]);
  // Not allowed looks exactly like not there.
  const issued = await issueClusterCredential(credentialDeps(rt), { session, user, clusterName: name, clientIp: h.get('x-kubegate-client-ip'), origin: 'page' }).catch(
    (err: unknown) => {
      if (err instanceof NoAccessError) notFound();
      throw err;
    },
  );
  const { spec, cluster } = issued;
  const renderings = renderAllShells(spec);
  const { issuer } = rt.config;
  return (
    <div className="space-y-8">
      <nav aria-label="Breadcrumb" className="text-sm">
        <Link href="/" className="text-indigo-700 hover:underline dark:text-indigo-300">
          Your clusters
        </Link>
        <span className="text-slate-400"> / </span>
        <span>{cluster.display_name ?? cluster.name}</span>
      </nav>
      <header>
        <h1 className="text-2xl font-semibold tracking-tight">{cluster.display_name ?? cluster.name}</h1>
        <p className="mt-1 font-mono text-sm break-all text-slate-500 dark:text-slate-400">{cluster.server}</p>
        <p className="mt-3 max-w-2xl text-sm text-slate-600 dark:text-slate-300">
          These credentials are yours alone. The id_token lasts {formatDuration(issuer.id_token_lifetime)}; kubectl renews it by
          itself while you use it. An unused kubeconfig stops working after {formatDuration(issuer.refresh_idle_timeout)}, and every
          kubeconfig ends with your session in {formatDuration((session.expires_at - rt.now()) / 1000)}.
        </p>
      </header>

      <section className={cardStyles} aria-labelledby="commands-heading">
        <h2 id="commands-heading" className="text-lg font-semibold">
          1. Configure kubectl
        </h2>
        <p className="mt-1 mb-4 text-sm text-slate-600 dark:text-slate-400">
          Paste into your terminal. This adds context <code className="font-mono">{spec.context.name}</code> and switches to it;
          your other contexts are left alone.
        </p>
        <ShellTabs renderings={renderings} />
      </section>

      <section className={cardStyles} aria-labelledby="download-heading">
        <h2 id="download-heading" className="text-lg font-semibold">
          Or download a kubeconfig
        </h2>
        <p className="mt-1 mb-4 text-sm text-slate-600 dark:text-slate-400">
          A file with this cluster only, to use with <code className="font-mono">--kubeconfig</code> or to merge.
        </p>
        <form method="post" action={`/clusters/${cluster.name}/kubeconfig`}>
          <input type="hidden" name="csrf" value={csrfToken(rt.authSecret, session.id)} />
          <button type="submit" className={buttonStyles.primary} data-testid="download-kubeconfig">
            Download {kubeconfigFileName(cluster.name)}
          </button>
        </form>
        <MergeRecipes fileName={kubeconfigFileName(cluster.name)} />
      </section>

      <section className={cardStyles} aria-labelledby="check-heading">
        <h2 id="check-heading" className="text-lg font-semibold">
          2. Check
        </h2>
        <pre className="mt-3 overflow-x-auto rounded-lg bg-slate-950 p-4 font-mono text-xs text-slate-100">
          <code>kubectl auth whoami</code>
        </pre>
        <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
          It should print <code className="font-mono">{user.username}</code> and your groups, as the cluster&apos;s API server maps them.
        </p>
      </section>
    </div>
  );
}
