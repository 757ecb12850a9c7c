/**
 * Kubeconfig entry names. Names are unique per (user, cluster) so a second
 * cluster added later never overwrites the first.
 *
 * Why no dots: `kubectl config set contexts.<name>.cluster …` splits its
 * property path on '.'. kubectl 1.32 re-joins dotted names by scanning for
 * the next known field name, so `contexts.a.b.cluster` works, but a name like
 * `x.cluster.y` fails ("unable to parse one or more field values") and
 * `users.<name>.…` cannot be addressed at all. Replacing '.' with '-' makes
 * every name safe in a property path. A leading '-' is trimmed so a name is
 * never mistaken for a flag.
 */

const MAX_LENGTH = 63;

/** Keep [A-Za-z0-9_-], turn every other run of characters into one '-', trim '-' at both ends, cap at 63. */
export function safeName(input: string, fallback: string): string {
  const cleaned = input
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+/, '')
    .slice(0, MAX_LENGTH)
    .replace(/-+$/, '');
  return cleaned === '' ? fallback : cleaned;
}

export interface KubeconfigNames {
  cluster: string;
  user: string;
  context: string;
}

/**
 * `kubeconfigNames('alice@example.com', 'prod.eu')` →
 * `{ cluster: 'prod-eu', user: 'alice-example-com@prod-eu', context: 'alice-example-com@prod-eu' }`.
 * Distinct usernames can collide after sanitising (`a.b` and `a-b`); a kubeconfig
 * normally holds one person's credentials, so that is accepted.
 */
export function kubeconfigNames(username: string, cluster: string): KubeconfigNames {
  const clusterName = safeName(cluster, 'cluster');
  const userName = `${safeName(username, 'user')}@${clusterName}`;
  return { cluster: clusterName, user: userName, context: userName };
}
