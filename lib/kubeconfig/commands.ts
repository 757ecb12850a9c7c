import { oidcAuthProviderConfig, type AnySpec } from './build';
import { base64Utf8 } from './encoding';
import { InvalidCredentialSpecError } from './errors';
import { EXEC_API_VERSION, oidcLoginArgs } from './oidc-login';
import type { Command, CredentialSpec, ExecSpec, OidcAuthProviderConfig } from './types';

/** Optional oidc keys: when absent from the spec they are removed (`key-`), so re-running replaces a stale value. */
const OPTIONAL_KEYS = ['client-secret', 'idp-certificate-authority-data'] as const satisfies (keyof OidcAuthProviderConfig)[];

/** Why an optional key is absent, for the step-by-step explanation of its `key-` removal. */
const ABSENT_BECAUSE: Record<(typeof OPTIONAL_KEYS)[number], string> = {
  'client-secret': 'this cluster uses no client secret',
  'idp-certificate-authority-data': "Kubegate's TLS certificate needs no extra certificate authority",
};

/**
 * The note beside set-credentials. A trailing '-' is kubectl's syntax for
 * removing a key (`--auth-provider-arg=client-secret-`), not a stdin marker:
 * nothing is read from standard input.
 */
function credentialsNote(removed: readonly (typeof OPTIONAL_KEYS)[number][]): string {
  const tokens = 'id-token is the short-lived token kubectl shows the cluster; refresh-token lets kubectl fetch a new one from Kubegate when it expires.';
  if (removed.length === 0) return tokens;
  const names = removed.map((key) => `${key}-`).join(' and ');
  const why = removed.map((key) => ABSENT_BECAUSE[key]).join(' and ');
  return `${tokens} ${names}: a key ending in "-" is removed, not set (kubectl reads nothing from standard input here). Since ${why}, this clears a value an earlier run may have left.`;
}

/** Kubernetes namespace names are RFC 1123 labels; this also keeps the value from looking like a flag. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * One `--auth-provider-arg`. kubectl splits each `key=value` on the first '='
 * only, so '=' in values is fine. But the flag is a pflag StringSlice, which
 * parses every occurrence as a CSV record: an unquoted ',' splits the value
 * (`client-secret=x=,y=z` silently sets client-secret "x=" AND a key "y"),
 * and a bare '"' is a parse error. So a pair containing ',' or '"' is written
 * as one quoted CSV field, `"…"` with inner quotes doubled (verified with kubectl 1.32).
 */
export function authProviderArg(key: string, value: string): string {
  const pair = `${key}=${value}`;
  return /[",]/.test(pair) ? `--auth-provider-arg="${pair.replaceAll('"', '""')}"` : `--auth-provider-arg=${pair}`;
}

/**
 * Names appear in `kubectl config set <kind>.<name>.<field>` paths, which kubectl
 * splits on '.', and as positional arguments, where a leading '-' reads as a flag.
 * kubeconfigNames() always produces acceptable names.
 */
function checkName(kind: string, name: string): void {
  if (name === '' || name.includes('.') || name.startsWith('-') || /[\0\r\n]/.test(name)) {
    throw new InvalidCredentialSpecError(`${kind} name ${JSON.stringify(name)} cannot be used in kubectl config commands (empty, contains '.', starts with '-' or has a line break)`);
  }
}

function checkSpec({ cluster, user, context }: AnySpec, values: Record<string, string | undefined>): void {
  checkName('cluster', cluster.name);
  checkName('user', user.name);
  checkName('context', context.name);
  if (!DNS_LABEL.test(context.namespace)) {
    throw new InvalidCredentialSpecError(`namespace ${JSON.stringify(context.namespace)} is not a valid Kubernetes namespace name`);
  }
  // CSV parsing rewrites "\r\n" to "\n"; no real URL, id, secret or token contains a line break or NUL.
  for (const [key, value] of Object.entries({ server: cluster.server, ...values })) {
    if (value !== undefined && /[\0\r\n]/.test(value)) {
      throw new InvalidCredentialSpecError(`${key} contains a line break or NUL`);
    }
  }
}

/**
 * kubectl commands that add `spec` to the user's existing kubeconfig without
 * touching other entries; running them into an empty kubeconfig yields what
 * buildKubeconfig([spec]) describes (tested with real kubectl).
 *
 * Context fields are set with `kubectl config set contexts.<ctx>.<field>`
 * rather than `set-context --cluster= --user=`, which some Google Cloud SDK
 * kubectl dispatcher setups were reported to read as global connection
 * overrides (the 1.32 dispatcher tested here handles both).
 *
 * Re-running replaces the user's tokens and drops a client secret or issuer
 * CA that is no longer issued, but a cluster CA set earlier stays when the
 * new spec has none (clearing it would need `kubectl config unset`).
 */
export function kubectlCommands(spec: CredentialSpec): Command[] {
  const { user } = spec;
  const config = oidcAuthProviderConfig(user);
  checkSpec(spec, { ...config });
  const commands = clusterCommands(spec);
  const args = Object.entries(config).flatMap(([key, value]) => (value === undefined ? [] : [authProviderArg(key, value)]));
  const removed = OPTIONAL_KEYS.filter((key) => config[key] === undefined);
  const removals = removed.map((key) => `--auth-provider-arg=${key}-`);
  commands.push(
    {
      title: `Add OIDC credentials for ${user.name}`,
      argv: ['kubectl', 'config', 'set-credentials', user.name, '--auth-provider=oidc', ...args, ...removals],
      note: credentialsNote(removed),
    },
    ...contextCommands(spec),
  );
  return commands;
}

function clusterCommands({ cluster }: AnySpec): Command[] {
  const commands: Command[] = [
    { title: `Add cluster ${cluster.name}`, argv: ['kubectl', 'config', 'set-cluster', cluster.name, `--server=${cluster.server}`] },
  ];
  if (cluster.caPem !== undefined) {
    commands.push({
      title: `Trust the certificate authority of cluster ${cluster.name}`,
      argv: ['kubectl', 'config', 'set', `clusters.${cluster.name}.certificate-authority-data`, base64Utf8(cluster.caPem)],
    });
  }
  return commands;
}

function contextCommands({ cluster, user, context }: AnySpec): Command[] {
  return [
    { title: `Point context ${context.name} at the cluster`, argv: ['kubectl', 'config', 'set', `contexts.${context.name}.cluster`, cluster.name] },
    { title: `Point context ${context.name} at the user`, argv: ['kubectl', 'config', 'set', `contexts.${context.name}.user`, user.name] },
    { title: `Set the default namespace of ${context.name}`, argv: ['kubectl', 'config', 'set', `contexts.${context.name}.namespace`, context.namespace] },
    { title: `Switch to context ${context.name}`, argv: ['kubectl', 'config', 'use-context', context.name] },
  ];
}

/**
 * One `--exec-arg`. Like `--auth-provider-arg` it is a pflag StringSlice, so
 * each occurrence is read as a CSV record: an unquoted ',' would split one
 * kubelogin flag into two arguments and a bare '"' is a parse error. An
 * argument holding either is written as one quoted CSV field, inner quotes
 * doubled (kubectl 1.32: `--exec-arg="--oidc-client-secret=a,b"` sets one
 * argument). One flag per argument, never a comma-joined list.
 */
export function execArg(arg: string): string {
  return /[",]/.test(arg) ? `--exec-arg="${arg.replaceAll('"', '""')}"` : `--exec-arg=${arg}`;
}

const FLOW_NOTE: Record<ExecSpec['user']['flow'], string> = {
  browser:
    'kubectl runs kubectl oidc-login whenever it needs a token: the first time it opens your browser to sign in to Kubegate, then it keeps the token (and renews it) in ~/.kube/cache/oidc-login.',
  'device-code':
    'kubectl runs kubectl oidc-login whenever it needs a token: the first time it prints a web address and a code; open the address in a browser on any device, sign in to Kubegate and approve the code. The token is kept (and renewed) in ~/.kube/cache/oidc-login.',
};

/**
 * kubectl commands that add an exec-plugin user for `spec` (no token: `kubectl
 * oidc-login` logs in when kubectl first needs one). Running them into an
 * empty kubeconfig yields buildKubeconfig([spec]) except `installHint`, which
 * `kubectl config` cannot set (tested with real kubectl). Re-running replaces
 * the whole argument list, so switching between the browser and device-code
 * flows leaves no stale flag behind.
 */
export function oidcLoginCommands(spec: ExecSpec): Command[] {
  const args = oidcLoginArgs(spec.user);
  checkSpec(spec, Object.fromEntries(args.map((arg, i) => [`argument ${i + 1}`, arg])));
  return [
    ...clusterCommands(spec),
    {
      title: `Log in to ${spec.cluster.name} with kubectl oidc-login`,
      argv: [
        'kubectl',
        'config',
        'set-credentials',
        spec.user.name,
        '--exec-command=kubectl',
        `--exec-api-version=${EXEC_API_VERSION}`,
        ...args.map(execArg),
        '--exec-interactive-mode=IfAvailable',
        '--exec-provide-cluster-info=false',
      ],
      note: FLOW_NOTE[spec.user.flow],
    },
    ...contextCommands(spec),
  ];
}
