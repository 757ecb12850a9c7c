import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound, redirect } from 'next/navigation';
import { CommandBlock } from '@/components/kubeconfig/command-block';
import { CredentialsPanel } from '@/components/kubeconfig/credentials-panel';
import { MergeRecipes } from '@/components/kubeconfig/merge-recipes';
import { OidcLoginPanel } from '@/components/kubeconfig/oidc-login-panel';
import { buttonStyles, cardStyles } from '@/components/ui/styles';
import { mayUseCluster } from '@/lib/access';
import { csrfToken } from '@/lib/auth/csrf';
import { kubeconfigNames } from '@/lib/kubeconfig/names';
import { sessionHasMfa } from '@/lib/mfa/policy';
import { clusterTokenGroups } from '@/lib/oidc/cluster-groups';
import { kubeconfigFileName, KREW_INSTALL, mergeRecipes, oidcLoginViews } from '@/lib/portal/cluster-view';
import { requirePortalSession } from '@/lib/portal/session';
import { formatDuration } from '@/lib/util/duration';
import { getCredentialsAction } from './actions';

export const metadata: Metadata = { title: 'Cluster access' };

/**
 * A cluster page. Opening it mints nothing: credentials are handed out only
 * by the "Get credentials" POST (./actions.ts) or a download (POST).
 */
export default async function ClusterPage({ params }: { params: Promise<{ name: string }> }) {
  const [{ rt, user, session }, { name }] = await Promise.all([requirePortalSession(), params]);
  const cluster = rt.clusters.get(name);
  // Not allowed looks exactly like not there.
  if (!cluster || !mayUseCluster(cluster, user.groups)) notFound();
  // Step-up: a cluster that asks for MFA is opened only from a session that has shown a second factor.
  if (cluster.require_mfa && !sessionHasMfa(session)) redirect(`/mfa?next=${encodeURIComponent(`/clusters/${cluster.name}`)}`);
  const { issuer } = rt.config;
  const context = kubeconfigNames(user.username, cluster.name).context;
  const csrf = csrfToken(rt.authSecret, session.id);
  const fileName = kubeconfigFileName(cluster.name);
  // As this cluster's tokens carry them (group_mappings and extra_groups applied).
  const tokenGroups = clusterTokenGroups(cluster, user.groups);
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
          Credentials are yours alone. The id_token lasts {formatDuration(issuer.id_token_lifetime)}; kubectl renews it by itself while you
          use it. An unused credential stops working after {formatDuration(issuer.refresh_idle_timeout)}, and every credential ends with
          your session in {formatDuration((session.expires_at - rt.now()) / 1000)}.
        </p>
      </header>

      <section className={cardStyles} aria-labelledby="commands-heading">
        <h2 id="commands-heading" className="text-lg font-semibold">
          1. Configure kubectl
        </h2>
        <p className="mt-1 mb-4 text-sm text-slate-600 dark:text-slate-400">
          Get a credential for this cluster, then paste the commands into your terminal. They add context{' '}
          <code className="font-mono">{context}</code> and switch to it; your other contexts are left alone. Each press hands out a new,
          independent credential.
        </p>
        <CredentialsPanel action={getCredentialsAction} cluster={cluster.name} csrf={csrf} />
      </section>

      <section className={cardStyles} aria-labelledby="download-heading">
        <h2 id="download-heading" className="text-lg font-semibold">
          Or download a kubeconfig
        </h2>
        <p className="mt-1 mb-4 text-sm text-slate-600 dark:text-slate-400">
          A file with this cluster only (and a new credential), to use with <code className="font-mono">--kubeconfig</code> or to merge.
        </p>
        <form method="post" action={`/clusters/${cluster.name}/kubeconfig`}>
          <input type="hidden" name="csrf" value={csrf} />
          <button type="submit" className={buttonStyles.secondary} data-testid="download-kubeconfig">
            Download {fileName}
          </button>
        </form>
        <MergeRecipes recipes={mergeRecipes(fileName)} fileName={fileName} />
      </section>

      <section className={cardStyles} aria-labelledby="oidc-login-heading">
        <h2 id="oidc-login-heading" className="text-lg font-semibold">
          Or log in from the terminal with kubelogin
        </h2>
        <p className="mt-1 mb-4 text-sm text-slate-600 dark:text-slate-400">
          Instead of a credential from this page, let kubectl sign you in to Kubegate itself when it needs to, through the{' '}
          <code className="font-mono">kubectl oidc-login</code> plugin. Nothing is handed out until you log in.
        </p>
        <OidcLoginPanel views={oidcLoginViews(issuer, cluster)} krewInstall={KREW_INSTALL} downloadAction={`/clusters/${cluster.name}/kubeconfig`} csrf={csrf} />
      </section>

      <section className={cardStyles} aria-labelledby="check-heading">
        <h2 id="check-heading" className="text-lg font-semibold">
          2. Check
        </h2>
        <CommandBlock text="kubectl auth whoami" className="mt-3" testId="whoami" />
        <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">
          It should print <code className="font-mono">{user.username}</code> and the groups this cluster&apos;s tokens carry for you (
          <span data-testid="token-groups" className="font-mono">
            {tokenGroups.length ? tokenGroups.join(', ') : 'none'}
          </span>
          ), as the cluster&apos;s API server maps them (it may add a prefix).
        </p>
      </section>
    </div>
  );
}
