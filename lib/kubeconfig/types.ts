/**
 * Typed input and output shapes for kubeconfig generation. Everything in
 * lib/kubeconfig is pure (no I/O, no next/*) so the same code can build a
 * downloadable kubeconfig on the server and render copy-paste commands.
 */

/** One cluster + one OIDC user + the context joining them. */
export interface CredentialSpec {
  /** `caPem`: PEM text of the cluster CA; omit when the API server uses a publicly trusted certificate. */
  cluster: { name: string; server: string; caPem?: string };
  /** `issuerCaPem`: PEM text of the CA that signed the OIDC issuer's TLS certificate, if private. */
  user: {
    name: string;
    issuerUrl: string;
    clientId: string;
    clientSecret?: string;
    idToken: string;
    refreshToken: string;
    issuerCaPem?: string;
  };
  context: { name: string; namespace: string };
}

export type Shell = 'bash' | 'fish' | 'powershell' | 'cmd';

/** A command as an argv array (never a string): `argv[0] === 'kubectl'`. Quoting is the renderer's job. */
export interface Command {
  title: string;
  argv: string[];
  /** What a reader may wonder about in this command, in plain words (shown beside it on the cluster page). */
  note?: string;
}

/** kubectl's `auth-provider.config` map for the `oidc` provider (k8s.io/client-go/plugin/pkg/client/auth/oidc). */
export interface OidcAuthProviderConfig {
  'idp-issuer-url': string;
  'client-id': string;
  'client-secret'?: string;
  'id-token': string;
  'refresh-token': string;
  'idp-certificate-authority-data'?: string;
}

export interface KubeconfigCluster {
  name: string;
  cluster: { server: string; 'certificate-authority-data'?: string };
}

/**
 * How `kubectl oidc-login` (int128/kubelogin) gets a token when it has none:
 * `browser` opens a browser on this machine (authorization code + PKCE with a
 * loopback redirect), `device-code` prints a URL and a code to type into a
 * browser anywhere (RFC 8628), for machines without one.
 */
export type LoginFlow = 'browser' | 'device-code';

/**
 * One cluster + a user whose tokens `kubectl oidc-login get-token` fetches
 * when kubectl needs one. Holds no token: whoever logs in gets their own.
 */
export interface ExecSpec {
  cluster: CredentialSpec['cluster'];
  user: {
    name: string;
    issuerUrl: string;
    clientId: string;
    clientSecret?: string;
    issuerCaPem?: string;
    flow: LoginFlow;
  };
  context: CredentialSpec['context'];
}

/** A user entry's `exec` block (k8s.io/client-go/tools/clientcmd/api/v1 ExecConfig). */
export interface ExecConfig {
  apiVersion: 'client.authentication.k8s.io/v1';
  command: string;
  args: string[];
  /** Shown by kubectl when `command` is not found. */
  installHint: string;
  /** v1 requires it; IfAvailable lets kubelogin prompt when kubectl has a terminal and still run without one (GUI tools). */
  interactiveMode: 'IfAvailable';
  provideClusterInfo: false;
}

export type KubeconfigUser =
  | { name: string; user: { 'auth-provider': { name: 'oidc'; config: OidcAuthProviderConfig } } }
  | { name: string; user: { exec: ExecConfig } };

export interface KubeconfigContext {
  name: string;
  context: { cluster: string; user: string; namespace: string };
}

/** The subset of clientcmd's `Config` (apiVersion v1) that Kubegate writes. */
export interface KubeconfigObject {
  apiVersion: 'v1';
  kind: 'Config';
  preferences: Record<string, never>;
  clusters: KubeconfigCluster[];
  users: KubeconfigUser[];
  contexts: KubeconfigContext[];
  'current-context': string;
}
