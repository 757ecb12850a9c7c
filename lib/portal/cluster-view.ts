import type { ResolvedCluster } from '../config/load';
import { buildKubeconfig, toYaml } from '../kubeconfig/build';
import { kubectlCommands, oidcLoginCommands } from '../kubeconfig/commands';
import { base64Utf8 } from '../kubeconfig/encoding';
import { UnsafeForShellError } from '../kubeconfig/errors';
import { mergeRecipe } from '../kubeconfig/merge-recipes';
import { kubeconfigNames } from '../kubeconfig/names';
import { KREW_INSTALL, oidcLoginNames } from '../kubeconfig/oidc-login';
import { renderCommand, SHELLS } from '../kubeconfig/render';
import type { Command, CredentialSpec, ExecSpec, LoginFlow, Shell } from '../kubeconfig/types';
import { compact, type CompactRendering } from './shell-script';

export const SHELL_LABELS: Record<Shell, string> = {
  bash: 'bash / zsh',
  fish: 'fish',
  powershell: 'PowerShell',
  cmd: 'cmd.exe',
};

/**
 * A piece of a command as shown on screen: long values (tokens, certificate
 * data) are shortened to `eyJhbGciOi…Xk9Q`; the Copy buttons copy the full text.
 */
export interface DisplayPart {
  text: string;
  /** Set when `text` is a shortened long value; the full value is in the copied script. */
  shortened?: true;
}

export interface ShellStep {
  title: string;
  /** The exact command, as copied. */
  command: string;
  /** The command with long values shortened; absent when nothing in it is shortened (the screen shows `command`). */
  display?: DisplayPart[];
  note?: string;
}

export interface ShellRendering {
  shell: Shell;
  label: string;
  /** All commands, one per line, ready to paste; absent when a value cannot be quoted safely for this shell. */
  script?: string;
  /** The same script with long values shortened, for the screen; absent when nothing is shortened (the screen shows `script`). */
  display?: DisplayPart[];
  steps?: ShellStep[];
  unavailable?: string;
}

export interface IssuerSettings {
  url: string;
  ca_pem?: string;
}

/** The credential spec for one cluster: the typed structure both commands and kubeconfig come from. */
export function credentialSpec(
  issuer: IssuerSettings,
  cluster: ResolvedCluster,
  username: string,
  tokens: { idToken: string; refreshToken: string },
): CredentialSpec {
  const names = kubeconfigNames(username, cluster.name);
  return {
    cluster: { name: names.cluster, server: cluster.server, caPem: cluster.ca_pem },
    user: {
      name: names.user,
      issuerUrl: issuer.url,
      clientId: cluster.client_id,
      clientSecret: cluster.client_secret,
      idToken: tokens.idToken,
      refreshToken: tokens.refreshToken,
      issuerCaPem: issuer.ca_pem,
    },
    context: { name: names.context, namespace: cluster.default_namespace },
  };
}

/** Values shorter than this are shown whole: shortening would hide nothing. */
const SHORTEN_FROM = 24;

/** `eyJhbGciOiJSUzI1NiJ9.eyJ…` → `eyJhbGciOi…Xk9Q`: enough to recognise, too little to use. */
export function shorten(value: string): string {
  return `${value.slice(0, 10)}…${value.slice(-4)}`;
}

/** The long values of a spec as they appear in every rendering: tokens and base64 certificate data. */
function longValues(spec: CredentialSpec): string[] {
  const values = [spec.user.idToken, spec.user.refreshToken];
  if (spec.cluster.caPem !== undefined) values.push(base64Utf8(spec.cluster.caPem));
  if (spec.user.issuerCaPem !== undefined) values.push(base64Utf8(spec.user.issuerCaPem));
  return values.filter((v) => v.length >= SHORTEN_FROM);
}

/**
 * Splits `text` around every occurrence of the given values and shortens
 * them. Tokens and base64 data need no quoting in any shell, so they appear
 * verbatim in every rendering.
 */
export function displayParts(text: string, values: readonly string[]): DisplayPart[] {
  const parts: DisplayPart[] = [];
  let rest = text;
  for (;;) {
    let at = -1;
    let found = '';
    for (const v of values) {
      const i = rest.indexOf(v);
      if (i !== -1 && (at === -1 || i < at)) [at, found] = [i, v];
    }
    if (at === -1) break;
    if (at > 0) parts.push({ text: rest.slice(0, at) });
    parts.push({ text: shorten(found), shortened: true });
    rest = rest.slice(at + found.length);
  }
  if (rest !== '' || parts.length === 0) parts.push({ text: rest });
  return parts;
}

function shortenedDisplay(text: string, values: readonly string[]): { display?: DisplayPart[] } {
  const display = displayParts(text, values);
  return display.some((p) => p.shortened) ? { display } : {};
}

/** Commands for every shell; a shell that cannot carry a value safely says so instead. */
export function renderAllShells(spec: CredentialSpec): ShellRendering[] {
  return renderShells(kubectlCommands(spec), longValues(spec));
}

function renderShells(commands: readonly Command[], values: readonly string[]): ShellRendering[] {
  return SHELLS.map((shell) => {
    try {
      // A display form only where something is shortened: otherwise it would repeat the command in the page's payload.
      const steps = commands.map((c): ShellStep => {
        const command = renderCommand(shell, c);
        return { title: c.title, command, ...shortenedDisplay(command, values), ...(c.note !== undefined && { note: c.note }) };
      });
      const script = steps.map((s) => s.command).join('\n');
      return { shell, label: SHELL_LABELS[shell], steps, script, ...shortenedDisplay(script, values) };
    } catch (err) {
      if (!(err instanceof UnsafeForShellError)) throw err;
      return {
        shell,
        label: SHELL_LABELS[shell],
        unavailable: `${err.message}. Download the kubeconfig instead.`,
      };
    }
  });
}

export function kubeconfigYaml(specs: readonly (CredentialSpec | ExecSpec)[]): string {
  return toYaml(buildKubeconfig(specs));
}

export interface MergeRecipeView {
  shell: Shell;
  label: string;
  script: string;
}

const recipesByFile = new Map<string, readonly MergeRecipeView[]>();

/**
 * How to merge the downloaded file into ~/.kube/config, for every shell.
 * They depend on the file name alone (a configured cluster's, or the
 * all-clusters file), so each list is built once per process.
 */
export function mergeRecipes(fileName: string): readonly MergeRecipeView[] {
  let recipes = recipesByFile.get(fileName);
  if (!recipes) {
    recipes = Object.freeze(SHELLS.map((shell) => Object.freeze({ shell, label: SHELL_LABELS[shell], script: mergeRecipe(shell, fileName).script })));
    // Bounded by the configured clusters; the guard only keeps an unexpected caller from growing it.
    if (recipesByFile.size < 1000) recipesByFile.set(fileName, recipes);
  }
  return recipes;
}

/**
 * Download file name: only safe characters, whatever the cluster is called.
 * An exec-plugin kubeconfig says which login flow it runs.
 */
export function kubeconfigFileName(cluster?: string, flow?: LoginFlow): string {
  const base = cluster ? `kubeconfig-${cluster.replace(/[^a-z0-9-]/g, '-')}` : 'kubeconfig-kubegate';
  const suffix = flow === undefined ? '' : flow === 'browser' ? '-oidc-login' : '-oidc-login-device';
  return `${base}${suffix}.yaml`;
}

/**
 * What the cluster page's "Get credentials" action hands back to the page:
 * nothing yet, the commands for a freshly minted credential, or a refusal
 * in words. The commands carry tokens, so this travels only in the body of
 * the action's POST response (Cache-Control: no-store), never in a URL.
 */
export type CredentialsState =
  | { status: 'idle' }
  | { status: 'issued'; contextName: string; renderings: CompactRendering[] }
  | { status: 'refused'; message: string };

export function issuedState(spec: CredentialSpec): CredentialsState {
  return { status: 'issued', contextName: spec.context.name, renderings: renderAllShells(spec).map(compact) };
}

/** The login flows offered for kubectl oidc-login, in the order the page shows them. */
export const LOGIN_FLOWS: readonly LoginFlow[] = ['browser', 'device-code'];

export const LOGIN_FLOW_LABELS: Record<LoginFlow, string> = {
  browser: 'With a browser on this computer',
  'device-code': 'On a machine without a browser (device code)',
};

/**
 * The exec-plugin spec for one cluster: no token and no person in it, so
 * the page can show it without minting anything, and whoever logs in
 * through it gets their own identity.
 */
export function oidcLoginSpec(issuer: IssuerSettings, cluster: ResolvedCluster, flow: LoginFlow): ExecSpec {
  const names = oidcLoginNames(cluster.name);
  return {
    cluster: { name: names.cluster, server: cluster.server, caPem: cluster.ca_pem },
    user: {
      name: names.user,
      issuerUrl: issuer.url,
      clientId: cluster.client_id,
      clientSecret: cluster.client_secret,
      issuerCaPem: issuer.ca_pem,
      flow,
    },
    context: { name: names.context, namespace: cluster.default_namespace },
  };
}

export interface OidcLoginView {
  flow: LoginFlow;
  label: string;
  contextName: string;
  renderings: ShellRendering[];
  /** The same without the whole scripts, as the page sends them (lib/portal/shell-script.ts). */
  compactRenderings: CompactRendering[];
  /** Name of the downloadable kubeconfig for this flow. */
  fileName: string;
}

/** Certificate data is the only long value in these commands. */
function execLongValues(spec: ExecSpec): string[] {
  return [spec.cluster.caPem, spec.user.issuerCaPem].flatMap((pem) => (pem === undefined ? [] : [base64Utf8(pem)])).filter((v) => v.length >= SHORTEN_FROM);
}

const loginViews = new WeakMap<IssuerSettings, WeakMap<ResolvedCluster, readonly OidcLoginView[]>>();

/**
 * The cluster page's "log in from the terminal" offer: commands per shell and
 * a download, per flow. They hold no person and no token, only the issuer's
 * and the cluster's settings, so each cluster's are built once per config
 * (keyed by the config's own objects) instead of on every page view.
 */
export function oidcLoginViews(issuer: IssuerSettings, cluster: ResolvedCluster): readonly OidcLoginView[] {
  let byCluster = loginViews.get(issuer);
  if (!byCluster) loginViews.set(issuer, (byCluster = new WeakMap()));
  let views = byCluster.get(cluster);
  if (!views) byCluster.set(cluster, (views = Object.freeze(buildOidcLoginViews(issuer, cluster))));
  return views;
}

function buildOidcLoginViews(issuer: IssuerSettings, cluster: ResolvedCluster): OidcLoginView[] {
  return LOGIN_FLOWS.map((flow) => {
    const spec = oidcLoginSpec(issuer, cluster, flow);
    const renderings = renderShells(oidcLoginCommands(spec), execLongValues(spec));
    return {
      flow,
      label: LOGIN_FLOW_LABELS[flow],
      contextName: spec.context.name,
      renderings,
      compactRenderings: renderings.map(compact),
      fileName: kubeconfigFileName(cluster.name, flow),
    };
  });
}

export { KREW_INSTALL };
