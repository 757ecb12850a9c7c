/**
 * The console's read-only view of lib/admin/apiserver-config.ts: per cluster,
 * the kube-apiserver flags, the AuthenticationConfiguration for the chosen
 * Kubernetes version, and example RBAC, as `kubegate apiserver-config` prints them.
 */
import { z } from 'zod';
import { AdminError } from '../../admin/errors';
import { apiServerSetup, parseKubernetesVersion, renderApiServerSetup, DEFAULT_SETUP_OPTIONS, type ApiServerSetup } from '../../admin/apiserver-config';
import type { ResolvedConfig } from '../../config/load';
import { firstValues, type SearchParams } from './filters';

export interface ApiServerView {
  clusters: string[];
  /** Undefined when the config has no clusters. */
  selected?: string;
  kubernetesMinor: number;
  setup?: ApiServerSetup;
  sections: { title: string; lines: string[] }[];
  errors: string[];
}

const Version = z.string().max(20);

export function apiServerView(config: Pick<ResolvedConfig, 'issuer' | 'signing' | 'clusters'>, params: SearchParams): ApiServerView {
  const raw = firstValues(params);
  const clusters = config.clusters.map((c) => c.name);
  const errors: string[] = [];
  let selected = clusters[0];
  if (raw.cluster !== undefined) {
    if (clusters.includes(raw.cluster)) selected = raw.cluster;
    else errors.push(`cluster: no cluster is named ${JSON.stringify(raw.cluster.slice(0, 100))}`);
  }
  let kubernetesMinor = DEFAULT_SETUP_OPTIONS.kubernetesMinor;
  if (raw.version !== undefined) {
    try {
      kubernetesMinor = parseKubernetesVersion(Version.parse(raw.version));
    } catch (err) {
      if (!(err instanceof AdminError || err instanceof z.ZodError)) throw err;
      errors.push('version: must be a Kubernetes version such as 1.34');
    }
  }
  if (selected === undefined) return { clusters, kubernetesMinor, sections: [], errors };
  const setup = apiServerSetup(config, selected, { kubernetesMinor });
  const sections = [
    { title: 'Flags (every Kubernetes version)', lines: renderApiServerSetup(setup, 'flags') },
    ...(setup.authenticationConfiguration
      ? [{ title: `AuthenticationConfiguration (${setup.authenticationConfiguration.apiVersion}), for --authentication-config`, lines: renderApiServerSetup(setup, 'authentication-config') }]
      : []),
    ...(setup.caFile ? [{ title: `The issuer's CA certificate, to install at ${setup.caFile.path}`, lines: setup.caFile.pem.replace(/\n$/, '').split('\n') }] : []),
    { title: 'RBAC: example ClusterRoleBindings for the allowed groups', lines: renderApiServerSetup(setup, 'rbac') },
  ];
  return { clusters, selected, kubernetesMinor, setup, sections, errors };
}
