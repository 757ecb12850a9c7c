import type { ResolvedCluster } from '../config/load';
import { buildKubeconfig, toYaml } from '../kubeconfig/build';
import { kubectlCommands } from '../kubeconfig/commands';
import { UnsafeForShellError } from '../kubeconfig/errors';
import { kubeconfigNames } from '../kubeconfig/names';
import { renderCommand, SHELLS } from '../kubeconfig/render';
import type { CredentialSpec, Shell } from '../kubeconfig/types';

export const SHELL_LABELS: Record<Shell, string> = {
  bash: 'bash / zsh',
  fish: 'fish',
  powershell: 'PowerShell',
  cmd: 'cmd.exe',
};

export interface ShellRendering {
  shell: Shell;
  label: string;
  /** All commands, one per line, ready to paste; absent when a value cannot be quoted safely for this shell. */
  script?: string;
  steps?: { title: string; command: string }[];
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

/** Commands for every shell; a shell that cannot carry a value safely says so instead. */
export function renderAllShells(spec: CredentialSpec): ShellRendering[] {
  const commands = kubectlCommands(spec);
  return SHELLS.map((shell) => {
    try {
      const steps = commands.map((c) => ({ title: c.title, command: renderCommand(shell, c) }));
      return { shell, label: SHELL_LABELS[shell], steps, script: steps.map((s) => s.command).join('\n') };
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

export function kubeconfigYaml(specs: CredentialSpec[]): string {
  return toYaml(buildKubeconfig(specs));
}

/** Download file name: only safe characters, whatever the cluster is called. */
export function kubeconfigFileName(cluster?: string): string {
  return cluster ? `kubeconfig-${cluster.replace(/[^a-z0-9-]/g, '-')}.yaml` : 'kubeconfig-kubegate.yaml';
}
