import yaml from 'js-yaml';
import type { ResolvedConfig } from '../config/load';
import { AdminError } from './errors';

/**
 * What an API server needs to trust Kubegate for one cluster, built as data
 * and serialized at the end (`kubegate apiserver-config CLUSTER`):
 *
 *  - the kube-apiserver flags (`--oidc-*`, every Kubernetes version);
 *  - the structured AuthenticationConfiguration (`--authentication-config`,
 *    apiserver.config.k8s.io/v1 on 1.34+, v1beta1 on 1.30–1.33), which can
 *    also refuse tokens that live longer than Kubegate issues them
 *    (claimValidationRules) and usernames in the `system:` namespace;
 *  - ClusterRoleBindings for the cluster's allowed_groups, named as the API
 *    server will see them (with the groups prefix).
 *
 * kube-apiserver refuses `--authentication-config` together with any
 * `--oidc-*` flag: the two are alternatives. Field names follow
 * kubernetes.io "Authenticating" and the kube-apiserver Configuration (v1)
 * reference.
 */

/** The claims Kubegate's id_tokens carry for RBAC (lib/oidc/id-token.ts). */
export const USERNAME_CLAIM = 'preferred_username';
export const GROUPS_CLAIM = 'groups';
export const UID_CLAIM = 'sub';
export const DEFAULT_PREFIX = 'kubegate:';
export const DEFAULT_CA_FILE = '/etc/kubernetes/pki/kubegate-ca.crt';
/** Where the README suggests the structured configuration lives on the control-plane host. */
export const DEFAULT_AUTHN_CONFIG_FILE = '/etc/kubernetes/kubegate-authentication.yaml';

export type AuthnApiVersion = 'apiserver.config.k8s.io/v1' | 'apiserver.config.k8s.io/v1beta1';

export interface ApiServerSetupOptions {
  /** Prepended by the API server to every username; '' for none. */
  usernamePrefix: string;
  /** Prepended by the API server to every group; '' for none. */
  groupsPrefix: string;
  /** Path of the issuer's CA on the API server host (`--oidc-ca-file`), used when the issuer has a private CA. */
  caFile: string;
  /** The cluster's Kubernetes minor version (1.34 → 34), which picks the AuthenticationConfiguration version. */
  kubernetesMinor: number;
}

export const DEFAULT_SETUP_OPTIONS: ApiServerSetupOptions = {
  usernamePrefix: DEFAULT_PREFIX,
  groupsPrefix: DEFAULT_PREFIX,
  caFile: DEFAULT_CA_FILE,
  kubernetesMinor: 34,
};

export interface ClaimValidationRule {
  expression: string;
  message: string;
}

export interface AuthenticationConfiguration {
  apiVersion: AuthnApiVersion;
  kind: 'AuthenticationConfiguration';
  jwt: {
    issuer: { url: string; audiences: string[]; certificateAuthority?: string };
    claimValidationRules: ClaimValidationRule[];
    claimMappings: {
      username: { claim: string; prefix: string };
      groups: { claim: string; prefix: string };
      uid: { claim: string };
    };
    userValidationRules: ClaimValidationRule[];
  }[];
}

export interface ClusterRoleBinding {
  apiVersion: 'rbac.authorization.k8s.io/v1';
  kind: 'ClusterRoleBinding';
  metadata: { name: string };
  roleRef: { apiGroup: 'rbac.authorization.k8s.io'; kind: 'ClusterRole'; name: string };
  subjects: { apiGroup: 'rbac.authorization.k8s.io'; kind: 'Group'; name: string }[];
}

export interface ApiServerSetup {
  cluster: string;
  server: string;
  /** kube-apiserver arguments, one argv element each. */
  flags: string[];
  /** The PEM to install at `caFile` when a flag names it. */
  caFile?: { path: string; pem: string };
  /** Undefined before Kubernetes 1.30 (structured authentication was alpha). */
  authenticationConfiguration?: AuthenticationConfiguration;
  rbac: ClusterRoleBinding[];
  notes: string[];
}

/** The AuthenticationConfiguration version a Kubernetes minor version reads: v1 is GA in 1.34, v1beta1 from 1.30. */
export function authnApiVersion(minor: number): AuthnApiVersion | undefined {
  if (minor >= 34) return 'apiserver.config.k8s.io/v1';
  if (minor >= 30) return 'apiserver.config.k8s.io/v1beta1';
  return undefined;
}

/** `1.33`, `v1.33.2` → 33. */
export function parseKubernetesVersion(raw: string): number {
  const m = /^v?1\.(\d{1,3})(?:\.\d+)?$/.exec(raw.trim());
  if (!m) throw new AdminError('usage', `--kube-version must be a Kubernetes version such as 1.34 (got ${JSON.stringify(raw)})`);
  return Number(m[1]);
}

/** A ClusterRoleBinding name for a group: a DNS subdomain (lower case, [a-z0-9.-]). */
function bindingName(cluster: string, group: string): string {
  const slug = group
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  return `kubegate-${cluster}-${slug || 'group'}`.slice(0, 253).replace(/[-.]+$/, '');
}

/** Builds the setup for `clusterName`. Throws AdminError (not_found) for an unknown cluster. */
export function apiServerSetup(config: Pick<ResolvedConfig, 'issuer' | 'signing' | 'clusters'>, clusterName: string, options: Partial<ApiServerSetupOptions> = {}): ApiServerSetup {
  const opts = { ...DEFAULT_SETUP_OPTIONS, ...options };
  for (const [name, value] of [['username-prefix', opts.usernamePrefix], ['groups-prefix', opts.groupsPrefix], ['ca-file', opts.caFile]] as const) {
    // Values end up as kube-apiserver arguments and in YAML: printable ASCII, no spaces.
    if (!/^[\x21-\x7e]*$/.test(value) || (name === 'ca-file' && value === '')) throw new AdminError('usage', `--${name} must be printable ASCII without spaces`);
  }
  // `-` is what the flag calls "no prefix"; accept it as such.
  if (opts.usernamePrefix === '-') opts.usernamePrefix = '';
  if (opts.groupsPrefix === '-') opts.groupsPrefix = '';
  const cluster = config.clusters.find((c) => c.name === clusterName);
  if (!cluster) {
    const known = config.clusters.map((c) => c.name);
    throw new AdminError('not_found', `no cluster "${clusterName}" in the config${known.length ? ` (clusters: ${known.join(', ')})` : ' (it has no clusters)'}`);
  }
  const issuer = config.issuer;
  const notes: string[] = [];
  if (!issuer.url.startsWith('https://')) {
    notes.push(`issuer.url is ${issuer.url}: kube-apiserver accepts only an https issuer. Serve Kubegate behind TLS and set issuer.url to that https URL.`);
  }

  const flags = [
    `--oidc-issuer-url=${issuer.url}`,
    `--oidc-client-id=${cluster.client_id}`,
    `--oidc-username-claim=${USERNAME_CLAIM}`,
    // '-' is the flag's "no prefix"; an empty value would mean "<issuer>#".
    `--oidc-username-prefix=${opts.usernamePrefix === '' ? '-' : opts.usernamePrefix}`,
    `--oidc-groups-claim=${GROUPS_CLAIM}`,
  ];
  if (opts.groupsPrefix !== '') flags.push(`--oidc-groups-prefix=${opts.groupsPrefix}`);
  let caFile: ApiServerSetup['caFile'];
  if (issuer.ca_pem) {
    flags.push(`--oidc-ca-file=${opts.caFile}`);
    caFile = { path: opts.caFile, pem: issuer.ca_pem };
  }
  // RS256 is kube-apiserver's default; anything else must be allowed by name. (The structured
  // configuration accepts every asymmetric algorithm.)
  if (config.signing.algorithm !== 'RS256') {
    flags.push(`--oidc-signing-algs=${config.signing.algorithm}`);
    notes.push(`While changing signing.algorithm, let the API server accept both: --oidc-signing-algs=RS256,${config.signing.algorithm}.`);
  }

  const apiVersion = authnApiVersion(opts.kubernetesMinor);
  let authenticationConfiguration: AuthenticationConfiguration | undefined;
  if (apiVersion) {
    const lifetime = issuer.id_token_lifetime;
    authenticationConfiguration = {
      apiVersion,
      kind: 'AuthenticationConfiguration',
      jwt: [
        {
          issuer: {
            url: issuer.url,
            audiences: [cluster.client_id],
            ...(issuer.ca_pem ? { certificateAuthority: issuer.ca_pem } : {}),
          },
          claimValidationRules: [
            {
              // Kubegate issues id_tokens for issuer.id_token_lifetime; one that lives longer was not issued by it
              // as configured (a leaked signing key, a misconfiguration) and is refused.
              expression: `claims.exp - claims.iat <= ${lifetime}`,
              message: `Kubegate id_tokens live at most ${lifetime} seconds (issuer.id_token_lifetime); this token lives longer`,
            },
          ],
          claimMappings: {
            username: { claim: USERNAME_CLAIM, prefix: opts.usernamePrefix },
            groups: { claim: GROUPS_CLAIM, prefix: opts.groupsPrefix },
            uid: { claim: UID_CLAIM },
          },
          userValidationRules: [
            { expression: "!user.username.startsWith('system:')", message: 'usernames in the system: namespace are reserved for Kubernetes' },
            { expression: "user.groups.all(group, !group.startsWith('system:'))", message: 'groups in the system: namespace are reserved for Kubernetes' },
          ],
        },
      ],
    };
    if (apiVersion.endsWith('v1beta1')) notes.push(`Kubernetes 1.${opts.kubernetesMinor}: the AuthenticationConfiguration is ${apiVersion} (v1 from Kubernetes 1.34).`);
  } else {
    notes.push(`Kubernetes 1.${opts.kubernetesMinor} has no structured authentication configuration (beta from 1.30): use the flags.`);
  }

  const seen = new Map<string, number>();
  const rbac: ClusterRoleBinding[] = cluster.allowed_groups.map((group) => {
    let name = bindingName(cluster.name, group);
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    if (n > 0) name = `${name}-${n + 1}`;
    return {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: opts.groupsPrefix + group }],
    };
  });
  if (rbac.length === 0) {
    notes.push(
      `clusters[${cluster.name}].allowed_groups is empty: every signed-in user gets credentials for this cluster. ` +
        `Bind roles to users as ${opts.usernamePrefix}<username> and to groups as ${opts.groupsPrefix}<group>.`,
    );
  }
  return { cluster: cluster.name, server: cluster.server, flags, caFile, authenticationConfiguration, rbac, notes };
}

export type ApiServerSetupFormat = 'text' | 'flags' | 'authentication-config' | 'rbac' | 'json';
export const API_SERVER_SETUP_FORMATS: readonly ApiServerSetupFormat[] = ['text', 'flags', 'authentication-config', 'rbac', 'json'];

const dump = (value: unknown) => yaml.dump(value, { lineWidth: -1, noRefs: true, quotingType: '"' });
const dumpAll = (docs: unknown[]) => docs.map(dump).join('---\n');

/** The lines to print for `format`: `text` explains; the others are machine-readable as they stand. */
export function renderApiServerSetup(setup: ApiServerSetup, format: ApiServerSetupFormat): string[] {
  const lines = (text: string) => text.replace(/\n$/, '').split('\n');
  switch (format) {
    case 'flags':
      return setup.flags;
    case 'authentication-config':
      if (!setup.authenticationConfiguration) throw new AdminError('usage', setup.notes.at(-1) ?? 'no structured configuration for this version');
      return lines(dump(setup.authenticationConfiguration));
    case 'rbac':
      return setup.rbac.length ? lines(dumpAll(setup.rbac)) : [];
    case 'json':
      return [JSON.stringify(setup, null, 2)];
    case 'text': {
      const out = [
        `# kube-apiserver settings for cluster "${setup.cluster}" (${setup.server}).`,
        '# Use ONE of the two ways: kube-apiserver refuses --authentication-config together with --oidc-* flags.',
        '',
        '## 1. Flags (every Kubernetes version), one argument per line:',
        ...setup.flags,
      ];
      if (setup.caFile) out.push('', `## The issuer's CA certificate, to install at ${setup.caFile.path} on every control-plane host:`, ...lines(setup.caFile.pem));
      if (setup.authenticationConfiguration) {
        out.push(
          '',
          `## 2. Structured configuration (${setup.authenticationConfiguration.apiVersion}): save as ${DEFAULT_AUTHN_CONFIG_FILE} and start`,
          `##    kube-apiserver with --authentication-config=${DEFAULT_AUTHN_CONFIG_FILE} (it reloads the file when it changes).`,
          '##    Beyond the flags, it refuses tokens that live longer than Kubegate issues them and system: names.',
          ...lines(dump(setup.authenticationConfiguration)),
        );
      }
      out.push('', '## RBAC: example ClusterRoleBindings for the cluster\'s allowed_groups (the read-only "view" role; pick your own):');
      if (setup.rbac.length) out.push(...lines(dumpAll(setup.rbac)));
      if (setup.notes.length) out.push('', '## Notes', ...setup.notes.map((n) => `- ${n}`));
      return out;
    }
  }
}
