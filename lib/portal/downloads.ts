import 'server-only';
import { z } from 'zod';
import { clustersFor, mayUseCluster } from '../access';
import { isSameOrigin, verifyCsrfToken } from '../auth/csrf';
import { kubeconfigFileName, kubeconfigYaml, LOGIN_FLOWS, oidcLoginSpec } from './cluster-view';
import { credentialDeps, issueClusterCredential, NoAccessError } from './credentials';
import { currentPortalSession } from './session';

/**
 * Which kubeconfig: absent means the token form (minted credentials); a login
 * flow means an exec-plugin kubeconfig running kubectl oidc-login, which
 * holds no token and so mints nothing.
 */
const LoginField = z.enum(LOGIN_FLOWS).nullable();

function plain(status: number, text: string): Response {
  return new Response(text + '\n', { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
}

/**
 * POST /clusters/<name>/kubeconfig and POST /kubeconfig: a kubeconfig made in
 * memory for this request, with freshly minted credentials. POST with a CSRF
 * token and a same-origin check, so no other site can make a browser mint
 * one; the tokens travel only in the response body, never in a URL.
 */
export async function handleKubeconfigDownload(req: Request, clusterName?: string): Promise<Response> {
  const ctx = await currentPortalSession();
  // A form post from a page whose session has since ended: back to sign-in, saying why.
  if (!ctx) return new Response(null, { status: 303, headers: { location: '/login?error=session_ended', 'cache-control': 'no-store' } });
  const { rt, session, user } = ctx;
  const form = await req.formData().catch(() => undefined);
  if (!isSameOrigin(req.headers, new URL(rt.config.issuer.url).origin) || !verifyCsrfToken(rt.authSecret, session.id, form?.get('csrf'))) {
    return plain(403, 'This request did not come from the Kubegate portal. Reload the page and try again.');
  }
  let clusters;
  if (clusterName === undefined) {
    clusters = clustersFor(rt.config.clusters, user.groups);
    if (clusters.length === 0) return plain(404, 'No clusters are open to your groups.');
  } else {
    const cluster = rt.clusters.get(clusterName);
    if (!cluster || !mayUseCluster(cluster, user.groups)) return plain(404, 'Not found.');
    clusters = [cluster];
  }
  const login = LoginField.safeParse(form?.get('login') ?? null);
  if (!login.success) return plain(400, `login must be one of ${LOGIN_FLOWS.join(', ')} (or absent, for a kubeconfig with tokens).`);
  const flow = login.data;
  if (flow !== null) {
    const specs = clusters.map((cluster) => oidcLoginSpec(rt.config.issuer, cluster, flow));
    return kubeconfigResponse(kubeconfigYaml(specs), kubeconfigFileName(clusterName, flow));
  }
  const clientIp = req.headers.get('x-kubegate-client-ip');
  const deps = credentialDeps(rt);
  const specs = [];
  try {
    for (const cluster of clusters) {
      specs.push((await issueClusterCredential(deps, { session, user, clusterName: cluster.name, clientIp, origin: 'download' })).spec);
    }
  } catch (err) {
    if (!(err instanceof NoAccessError)) throw err;
    if (err.reason === 'session_inactive') return new Response(null, { status: 303, headers: { location: '/login?error=session_ended', 'cache-control': 'no-store' } });
    if (err.reason === 'mfa_required') {
      // Step-up first, then back to the page the download was asked from.
      const back = clusterName === undefined ? '/' : `/clusters/${clusterName}`;
      return new Response(null, { status: 303, headers: { location: `/mfa?next=${encodeURIComponent(back)}`, 'cache-control': 'no-store' } });
    }
    return plain(404, 'Not found.');
  }
  return kubeconfigResponse(kubeconfigYaml(specs), kubeconfigFileName(clusterName));
}

function kubeconfigResponse(body: string, fileName: string): Response {
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'application/yaml; charset=utf-8',
      'content-disposition': `attachment; filename="${fileName}"`,
      // The token form holds tokens; the exec form may hold the cluster's client secret.
      'cache-control': 'no-store',
      pragma: 'no-cache',
    },
  });
}
