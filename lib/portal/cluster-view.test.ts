import { describe, expect, it } from 'vitest';
import { ClusterSchema } from '../config/schema';
import { buildKubeconfig } from '../kubeconfig/build';
import { mergeRecipe } from '../kubeconfig/merge-recipes';
import {
  credentialSpec,
  displayParts,
  kubeconfigFileName,
  mergeRecipes,
  oidcLoginSpec,
  oidcLoginViews,
  renderAllShells,
  shorten,
  type DisplayPart,
} from './cluster-view';

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

  it('shows tokens and certificate data shortened, while the script (what Copy copies) keeps them whole', () => {
    const idToken = 'eyJhbGciOiJSUzI1NiJ9.' + 'eyJzdWIiOiJhbGljZSJ9'.repeat(30) + '.c2lnbmF0dXJlXk9Q';
    const refreshToken = 'kgr_' + 'R'.repeat(39) + 'tail';
    const caPem = '-----BEGIN CERTIFICATE-----\n' + 'MIIB'.repeat(200) + '\n-----END CERTIFICATE-----\n';
    const spec = credentialSpec({ url: 'https://kubegate.example.com', ca_pem: caPem }, { ...cluster(), ca_pem: caPem }, 'alice', { idToken, refreshToken });
    const caData = Buffer.from(caPem).toString('base64');
    const unshorten = (parts: DisplayPart[], full: string[]) =>
      parts.map((p) => (p.shortened ? full.find((v) => shorten(v) === p.text)! : p.text)).join('');
    for (const r of renderAllShells(spec)) {
      const shown = r.display!.map((p) => p.text).join('');
      expect(r.script, r.shell).toContain(idToken);
      expect(r.script, r.shell).toContain(caData);
      expect(shown, r.shell).not.toContain(idToken);
      expect(shown, r.shell).not.toContain(refreshToken);
      expect(shown, r.shell).not.toContain(caData);
      expect(shown, r.shell).toContain('eyJhbGciOi…Xk9Q');
      expect(shown, r.shell).toContain('kgr_RRRRRR…tail');
      // Only the long values differ: put them back and the screen is the script.
      expect(unshorten(r.display!, [idToken, refreshToken, caData])).toBe(r.script);
      expect(shown.length, r.shell).toBeLessThan(r.script!.length / 3);
      for (const step of r.steps!) expect(unshorten(step.display ?? [{ text: step.command }], [idToken, refreshToken, caData])).toBe(step.command);
      // A step with nothing to shorten carries no second copy of itself (the screen shows the command).
      for (const step of r.steps!) expect(step.display === undefined, step.title).toBe(![idToken, refreshToken, caData].some((v) => step.command.includes(v)));
    }
  });

  it('explains the set-credentials step, including the trailing "-" arguments', () => {
    const bash = renderAllShells(credentialSpec({ url: 'https://kubegate.example.com' }, cluster(), 'alice', tokens))[0]!;
    const step = bash.steps!.find((s) => s.command.includes('set-credentials'))!;
    expect(step.command).toContain('--auth-provider-arg=client-secret-');
    expect(step.note).toMatch(/client-secret- and idp-certificate-authority-data-: a key ending in "-" is removed, not set/);
    expect(bash.steps!.filter((s) => s.note !== undefined)).toHaveLength(1);
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

  it('leaves short values and text without them alone', () => {
    expect(displayParts('kubectl config use-context a', ['x'.repeat(30)])).toEqual([{ text: 'kubectl config use-context a' }]);
    expect(displayParts('', [])).toEqual([{ text: '' }]);
    const v = 'v'.repeat(20) + 'WXYZ';
    expect(displayParts(`a=${v} b=${v}`, [v])).toEqual([
      { text: 'a=' },
      { text: 'vvvvvvvvvv…WXYZ', shortened: true },
      { text: ' b=' },
      { text: 'vvvvvvvvvv…WXYZ', shortened: true },
    ]);
  });

  it('offers the merge recipe for every shell', () => {
    expect(mergeRecipes('kubeconfig-prod.yaml').map((r) => [r.shell, r.label])).toEqual([
      ['bash', 'bash / zsh'],
      ['fish', 'fish'],
      ['powershell', 'PowerShell'],
      ['cmd', 'cmd.exe'],
    ]);
  });

  it('names downloads safely', () => {
    expect(kubeconfigFileName('prod')).toBe('kubeconfig-prod.yaml');
    expect(kubeconfigFileName()).toBe('kubeconfig-kubegate.yaml');
  });
});

describe('kubectl oidc-login offer', () => {
  const caPem = '-----BEGIN CERTIFICATE-----\n' + 'MIIB'.repeat(50) + '\n-----END CERTIFICATE-----\n';
  const issuer = { url: 'https://kubegate.example.com', ca_pem: caPem };

  it('builds a cluster’s offer once per config: the same views for the same issuer and cluster settings', () => {
    const prod = cluster();
    expect(oidcLoginViews(issuer, prod)).toBe(oidcLoginViews(issuer, prod));
    expect(oidcLoginViews(issuer, cluster({ name: 'other' }))[0]!.contextName).toBe('oidc-login@other');
    expect(mergeRecipes('kubeconfig-prod.yaml')).toBe(mergeRecipes('kubeconfig-prod.yaml'));
    expect(mergeRecipes('kubeconfig-stage.yaml')[0]!.script).toContain('kubeconfig-stage.yaml');
  });

  it('offers the browser flow, then the device-code flow, each with its own file', () => {
    const views = oidcLoginViews(issuer, cluster());
    expect(views.map((v) => [v.flow, v.contextName, v.fileName])).toEqual([
      ['browser', 'oidc-login@prod', 'kubeconfig-prod-oidc-login.yaml'],
      ['device-code', 'oidc-login@prod', 'kubeconfig-prod-oidc-login-device.yaml'],
    ]);
    // Download names still fit the merge recipes.
    for (const v of views) expect(() => mergeRecipe('bash', v.fileName)).not.toThrow();
  });

  it('renders the exec commands for every shell: the issuer, the client, the flow; certificate data shortened on screen', () => {
    const [browser, device] = oidcLoginViews(issuer, cluster({ client_secret: 'top,secret' }));
    const caData = Buffer.from(caPem).toString('base64');
    // A ',' makes the --exec-arg a quoted CSV field; the Windows shells cannot carry its '"' and point to the download.
    const byShell = Object.fromEntries(browser!.renderings.map((r) => [r.shell, r]));
    expect(byShell.powershell!.unavailable).toMatch(/Download the kubeconfig instead/);
    expect(byShell.cmd!.unavailable).toMatch(/Download the kubeconfig instead/);
    for (const r of browser!.renderings.filter((r) => r.shell === 'bash' || r.shell === 'fish')) {
      expect(r.script, r.shell).toContain('--exec-arg=--oidc-issuer-url=https://kubegate.example.com');
      expect(r.script, r.shell).toContain('--exec-arg=--oidc-client-id=kubernetes');
      expect(r.script, r.shell).toContain('--oidc-client-secret=top,secret');
      expect(r.script, r.shell).toContain(`--certificate-authority-data=${caData}`);
      expect(r.script, r.shell).toContain('--exec-interactive-mode=IfAvailable');
      expect(r.script, r.shell).not.toContain('--grant-type');
      expect(r.display!.map((p) => p.text).join(''), r.shell).not.toContain(caData);
    }
    for (const r of oidcLoginViews(issuer, cluster())[1]!.renderings) expect(r.script, r.shell).toContain('--exec-arg=--grant-type=device-code');
    expect(device!.renderings.map((r) => r.script !== undefined)).toEqual([true, true, false, false]);
  });

  it('the spec carries no token and no person; the file equals what the page describes', () => {
    const spec = oidcLoginSpec(issuer, cluster({ default_namespace: 'team-a' }), 'device-code');
    expect(spec.user).toEqual({ name: 'oidc-login@prod', issuerUrl: issuer.url, clientId: 'kubernetes', clientSecret: undefined, issuerCaPem: caPem, flow: 'device-code' });
    const config = buildKubeconfig([spec]);
    expect(JSON.stringify(config)).not.toMatch(/id-token|refresh-token/);
    expect(config.contexts[0]?.context.namespace).toBe('team-a');
  });

  it('names exec downloads by flow', () => {
    expect(kubeconfigFileName(undefined, 'browser')).toBe('kubeconfig-kubegate-oidc-login.yaml');
    expect(kubeconfigFileName('prod.eu', 'device-code')).toBe('kubeconfig-prod-eu-oidc-login-device.yaml');
  });
});
