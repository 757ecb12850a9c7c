import yaml from 'js-yaml';
import { base64Utf8 } from './encoding';
import { InvalidCredentialSpecError } from './errors';
import { oidcLoginExecConfig } from './oidc-login';
import type {
  CredentialSpec,
  ExecSpec,
  KubeconfigCluster,
  KubeconfigContext,
  KubeconfigObject,
  KubeconfigUser,
  OidcAuthProviderConfig,
} from './types';

export type { KubeconfigObject } from './types';

/** What a kubeconfig is built from: a user holding minted tokens, or one that logs in through kubectl oidc-login. */
export type AnySpec = CredentialSpec | ExecSpec;

export function isExecSpec(spec: AnySpec): spec is ExecSpec {
  return 'flow' in spec.user;
}

/**
 * The `oidc` auth-provider config for a user, in kubectl's key names. Shared
 * with commands.ts so the file and the commands can never disagree.
 */
export function oidcAuthProviderConfig(user: CredentialSpec['user']): OidcAuthProviderConfig {
  return {
    'idp-issuer-url': user.issuerUrl,
    'client-id': user.clientId,
    ...(user.clientSecret !== undefined && { 'client-secret': user.clientSecret }),
    'id-token': user.idToken,
    'refresh-token': user.refreshToken,
    ...(user.issuerCaPem !== undefined && { 'idp-certificate-authority-data': base64Utf8(user.issuerCaPem) }),
  };
}

function clusterEntry({ cluster }: AnySpec): KubeconfigCluster {
  return {
    name: cluster.name,
    cluster: {
      server: cluster.server,
      ...(cluster.caPem !== undefined && { 'certificate-authority-data': base64Utf8(cluster.caPem) }),
    },
  };
}

function userEntry(spec: AnySpec): KubeconfigUser {
  if (isExecSpec(spec)) return { name: spec.user.name, user: { exec: oidcLoginExecConfig(spec.user) } };
  return { name: spec.user.name, user: { 'auth-provider': { name: 'oidc', config: oidcAuthProviderConfig(spec.user) } } };
}

function contextEntry({ cluster, user, context }: AnySpec): KubeconfigContext {
  return { name: context.name, context: { cluster: cluster.name, user: user.name, namespace: context.namespace } };
}

/** Kubeconfig lists are maps keyed by name: identical repeats collapse, conflicting ones are a caller bug. */
function uniqueByName<T extends { name: string }>(entries: T[], kind: string): T[] {
  const byName = new Map<string, T>();
  for (const entry of entries) {
    const seen = byName.get(entry.name);
    if (seen === undefined) byName.set(entry.name, entry);
    else if (JSON.stringify(seen) !== JSON.stringify(entry)) {
      throw new InvalidCredentialSpecError(`two different ${kind} entries are both named ${JSON.stringify(entry.name)}`);
    }
  }
  return [...byName.values()];
}

/** A complete kubeconfig for `specs`; `current-context` defaults to the first spec's context. */
export function buildKubeconfig(specs: readonly AnySpec[], currentContext?: string): KubeconfigObject {
  const contexts = uniqueByName(specs.map(contextEntry), 'context');
  if (currentContext !== undefined && !contexts.some((c) => c.name === currentContext)) {
    throw new InvalidCredentialSpecError(`current context ${JSON.stringify(currentContext)} is not among the contexts`);
  }
  return {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: uniqueByName(specs.map(clusterEntry), 'cluster'),
    users: uniqueByName(specs.map(userEntry), 'user'),
    contexts,
    'current-context': currentContext ?? contexts[0]?.name ?? '',
  };
}

/**
 * YAML text for a kubeconfig. `lineWidth: -1` so long tokens never wrap;
 * `forceQuotes` because js-yaml writes YAML 1.2 but kubectl reads YAML 1.1
 * (sigs.k8s.io/yaml): js-yaml leaves e.g. `1_000` plain, which kubectl reads
 * as a number and then refuses the whole file ("cannot unmarshal number into
 * … of type string"). Quoting every string value sidesteps all such cases.
 */
export function toYaml(obj: KubeconfigObject): string {
  return yaml.dump(obj, { noRefs: true, lineWidth: -1, forceQuotes: true });
}
