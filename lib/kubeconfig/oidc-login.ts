import { base64Utf8 } from './encoding';
import { safeName } from './names';
import type { KubeconfigNames } from './names';
import type { ExecConfig, ExecSpec } from './types';

/** The exec credential API kubectl 1.22+ speaks; v1 makes `interactiveMode` mandatory. */
export const EXEC_API_VERSION = 'client.authentication.k8s.io/v1';

/** How to get the plugin: krew is the install path int128/kubelogin documents. */
export const KREW_INSTALL = 'kubectl krew install oidc-login';

export const INSTALL_HINT = [
  'This kubeconfig logs in with kubectl oidc-login (int128/kubelogin), which is not installed.',
  `Install it with: ${KREW_INSTALL}`,
  '(krew itself: https://krew.sigs.k8s.io/docs/user-guide/setup/install/)',
].join('\n');

/**
 * Entry names for an exec-plugin user. Unlike the token kubeconfig's
 * `alice@prod`, the entry names no person: the file holds no credential, and
 * whoever logs in through it gets their own identity. The name differs from
 * the token form's so both can sit in one kubeconfig, and both login flows
 * share it, so switching flows replaces the user entry rather than adding one.
 */
export function oidcLoginNames(cluster: string): KubeconfigNames {
  const clusterName = safeName(cluster, 'cluster');
  const name = `oidc-login@${clusterName}`;
  return { cluster: clusterName, user: name, context: name };
}

/**
 * `kubectl oidc-login get-token …` as an argv after `kubectl`, in the
 * flags int128/kubelogin reads. Each flag is one `--name=value` element,
 * so a value is never split or re-read by anything but kubelogin's flag
 * parser. The issuer CA goes in as base64 data, not a path: the kubeconfig
 * stays one self-contained file.
 */
export function oidcLoginArgs(user: ExecSpec['user']): string[] {
  return [
    'oidc-login',
    'get-token',
    `--oidc-issuer-url=${user.issuerUrl}`,
    `--oidc-client-id=${user.clientId}`,
    ...(user.clientSecret !== undefined ? [`--oidc-client-secret=${user.clientSecret}`] : []),
    ...(user.issuerCaPem !== undefined ? [`--certificate-authority-data=${base64Utf8(user.issuerCaPem)}`] : []),
    ...(user.flow === 'device-code' ? ['--grant-type=device-code'] : []),
  ];
}

/** The user entry's `exec` block; kubectl runs `kubectl oidc-login …`, which krew installs as a kubectl plugin. */
export function oidcLoginExecConfig(user: ExecSpec['user']): ExecConfig {
  return {
    apiVersion: EXEC_API_VERSION,
    command: 'kubectl',
    args: oidcLoginArgs(user),
    installHint: INSTALL_HINT,
    interactiveMode: 'IfAvailable',
    provideClusterInfo: false,
  };
}
