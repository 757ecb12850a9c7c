/** Test-only CredentialSpec fixtures. The PEM blocks are not real certificates: kubectl and client-node only base64 them. */
import { kubeconfigNames } from '../../lib/kubeconfig/names';
import type { CredentialSpec } from '../../lib/kubeconfig/types';

export const CLUSTER_CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfakeClusterCAforKubegateTests+/=\n-----END CERTIFICATE-----\n';
export const ISSUER_CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfakeIssuerCAforKubegateTests==\n-----END CERTIFICATE-----\n';

/** A JWT-shaped id token longer than any YAML line width, so wrapping would show. */
export const LONG_ID_TOKEN = `eyJhbGciOiJSUzI1NiJ9.${'eyJzdWIiOiJhbGljZSJ9'.repeat(20)}.${'c2lnbmF0dXJl_-'.repeat(12)}`;

export interface SpecOptions {
  username?: string;
  cluster?: string;
  namespace?: string;
  clientSecret?: string;
  refreshToken?: string;
  idToken?: string;
  withCas?: boolean;
}

export function makeSpec(options: SpecOptions = {}): CredentialSpec {
  const names = kubeconfigNames(options.username ?? 'alice', options.cluster ?? 'prod');
  const withCas = options.withCas ?? true;
  return {
    cluster: {
      name: names.cluster,
      server: `https://${names.cluster}.k8s.example:6443`,
      ...(withCas && { caPem: CLUSTER_CA_PEM }),
    },
    user: {
      name: names.user,
      issuerUrl: 'https://login.example/kubegate',
      clientId: 'kubectl',
      ...(options.clientSecret !== undefined && { clientSecret: options.clientSecret }),
      idToken: options.idToken ?? LONG_ID_TOKEN,
      refreshToken: options.refreshToken ?? 'rt_0123456789abcdef',
      ...(withCas && { issuerCaPem: ISSUER_CA_PEM }),
    },
    context: { name: names.context, namespace: options.namespace ?? 'default' },
  };
}
