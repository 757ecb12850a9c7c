import { describe, expect, it } from 'vitest';
import { ClusterSchema } from '../config/schema';
import { credentialSpec, kubeconfigFileName, renderAllShells } from './cluster-view';

const cluster = (o: Record<string, unknown> = {}) =>
  ({ ...ClusterSchema.parse({ name: 'prod', server: 'https://k8s.example.com:6443', client_id: 'kubernetes', ...o }), ca_pem: undefined });
const tokens = { idToken: 'eyJ.eyJ.sig', refreshToken: 'kgr_' + 'A'.repeat(43) };

describe('cluster page view', () => {
  it('builds the spec from the cluster, the issuer and the user, with names unique per cluster', () => {
    const spec = credentialSpec({ url: 'https://kubegate.example.com' }, cluster({ default_namespace: 'team-a' }), 'alice@example.com', tokens);
    expect(spec.context).toEqual({ name: 'alice-example-com@prod', namespace: 'team-a' });
    expect(spec.user).toMatchObject({ issuerUrl: 'https://kubegate.example.com', clientId: 'kubernetes', idToken: tokens.idToken });
  });

  it('renders all four shells, each a script and the same commands step by step', () => {
    const renderings = renderAllShells(credentialSpec({ url: 'https://kubegate.example.com' }, cluster(), 'alice', tokens));
    expect(renderings.map((r) => r.shell)).toEqual(['bash', 'fish', 'powershell', 'cmd']);
    for (const r of renderings) {
      expect(r.script).toBe(r.steps!.map((s) => s.command).join('\n'));
      expect(r.script).toContain(tokens.refreshToken);
    }
  });

  it('says so, instead of rendering, for a shell that cannot carry a value safely', () => {
    // A client secret with a double quote cannot be passed by Windows PowerShell 5.1 or cmd.exe intact.
    const renderings = renderAllShells(credentialSpec({ url: 'https://kubegate.example.com' }, cluster({ client_secret: 'a"b' }), 'alice', tokens));
    const byShell = Object.fromEntries(renderings.map((r) => [r.shell, r]));
    expect(byShell.bash!.script).toBeDefined();
    expect(byShell.powershell!.script).toBeUndefined();
    expect(byShell.powershell!.unavailable).toMatch(/Download the kubeconfig instead/);
    expect(byShell.powershell!.unavailable).not.toContain('a"b');
    expect(byShell.cmd!.script).toBeUndefined();
  });

  it('names downloads safely', () => {
    expect(kubeconfigFileName('prod')).toBe('kubeconfig-prod.yaml');
    expect(kubeconfigFileName()).toBe('kubeconfig-kubegate.yaml');
  });
});
