import { writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { buildKubeconfig, toYaml } from './build';
import { authProviderArg, kubectlCommands } from './commands';
import { InvalidCredentialSpecError } from './errors';
import { renderCommands } from './render';
import { CLUSTER_CA_PEM, ISSUER_CA_PEM, makeSpec } from '../../test/kubeconfig/fixtures';
import { run, sandbox, viewConfig, type Env } from '../../test/kubeconfig/kubectl';
import type { CredentialSpec } from './types';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const HOSTILE_SECRET = `s3cr'et"$(x)=,;`;

describe('authProviderArg', () => {
  const cases: [string, string][] = [
    ['plain', '--auth-provider-arg=client-secret=plain'],
    ['a=b==', '--auth-provider-arg=client-secret=a=b=='],
    ['ends-with-dash-', '--auth-provider-arg=client-secret=ends-with-dash-'],
    [' spaced ', '--auth-provider-arg=client-secret= spaced '],
    ['a,b', '--auth-provider-arg="client-secret=a,b"'],
    ['x=,y=z', '--auth-provider-arg="client-secret=x=,y=z"'],
    ['say "hi"', '--auth-provider-arg="client-secret=say ""hi"""'],
    [HOSTILE_SECRET, `--auth-provider-arg="client-secret=s3cr'et""$(x)=,;"`],
  ];
  test.each(cases)('%j → %s', (value, expected) => {
    expect(authProviderArg('client-secret', value)).toBe(expected);
  });
});

describe('kubectlCommands', () => {
  test('the exact argv for a spec with CAs and a hostile secret', () => {
    const spec = makeSpec({ clientSecret: HOSTILE_SECRET, idToken: 'eyJ.e30.sig', refreshToken: 'rt,1' });
    expect(kubectlCommands(spec)).toEqual([
      { title: 'Add cluster prod', argv: ['kubectl', 'config', 'set-cluster', 'prod', '--server=https://prod.k8s.example:6443'] },
      {
        title: 'Trust the certificate authority of cluster prod',
        argv: ['kubectl', 'config', 'set', 'clusters.prod.certificate-authority-data', b64(CLUSTER_CA_PEM)],
      },
      {
        title: 'Add OIDC credentials for alice@prod',
        argv: [
          'kubectl', 'config', 'set-credentials', 'alice@prod', '--auth-provider=oidc',
          '--auth-provider-arg=idp-issuer-url=https://login.example/kubegate',
          '--auth-provider-arg=client-id=kubectl',
          `--auth-provider-arg="client-secret=s3cr'et""$(x)=,;"`,
          '--auth-provider-arg=id-token=eyJ.e30.sig',
          '--auth-provider-arg="refresh-token=rt,1"',
          `--auth-provider-arg=idp-certificate-authority-data=${b64(ISSUER_CA_PEM)}`,
        ],
        note: 'id-token is the short-lived token kubectl shows the cluster; refresh-token lets kubectl fetch a new one from Kubegate when it expires.',
      },
      { title: 'Point context alice@prod at the cluster', argv: ['kubectl', 'config', 'set', 'contexts.alice@prod.cluster', 'prod'] },
      { title: 'Point context alice@prod at the user', argv: ['kubectl', 'config', 'set', 'contexts.alice@prod.user', 'alice@prod'] },
      { title: 'Set the default namespace of alice@prod', argv: ['kubectl', 'config', 'set', 'contexts.alice@prod.namespace', 'default'] },
      { title: 'Switch to context alice@prod', argv: ['kubectl', 'config', 'use-context', 'alice@prod'] },
    ]);
  });

  test('without secret or CAs: no CA command, and the optional keys are removed (re-running replaces)', () => {
    const commands = kubectlCommands(makeSpec({ withCas: false, idToken: 't', refreshToken: 'r' }));
    expect(commands.map((c) => c.argv[2])).toEqual(['set-cluster', 'set-credentials', 'set', 'set', 'set', 'use-context']);
    expect(commands[1]?.argv.slice(4)).toEqual([
      '--auth-provider=oidc',
      '--auth-provider-arg=idp-issuer-url=https://login.example/kubegate',
      '--auth-provider-arg=client-id=kubectl',
      '--auth-provider-arg=id-token=t',
      '--auth-provider-arg=refresh-token=r',
      '--auth-provider-arg=client-secret-',
      '--auth-provider-arg=idp-certificate-authority-data-',
    ]);
    // The trailing '-' is explained for what it is: a removal, not standard input.
    expect(commands[1]?.note).toContain(
      'client-secret- and idp-certificate-authority-data-: a key ending in "-" is removed, not set (kubectl reads nothing from standard input here). ' +
        "Since this cluster uses no client secret and Kubegate's TLS certificate needs no extra certificate authority, this clears a value an earlier run may have left.",
    );
  });

  test('explains only the keys it removes', () => {
    const note = kubectlCommands(makeSpec({ withCas: true, idToken: 't', refreshToken: 'r' }))[2]?.note ?? '';
    expect(note).toContain('client-secret-: a key ending in "-" is removed');
    expect(note).not.toContain('idp-certificate-authority-data-');
  });

  const invalid: [string, (spec: CredentialSpec) => void][] = [
    ['a dotted cluster name', (s) => (s.cluster.name = 'prod.eu')],
    ['a dotted context name', (s) => (s.context.name = 'a.cluster.b')],
    ['a user name starting with -', (s) => (s.user.name = '--help')],
    ['an empty context name', (s) => (s.context.name = '')],
    ['an invalid namespace', (s) => (s.context.namespace = 'Team A')],
    ['a namespace starting with -', (s) => (s.context.namespace = '-n')],
    ['a line break in a token', (s) => (s.user.refreshToken = 'a\r\nb')],
    ['a NUL in the server', (s) => (s.cluster.server = 'https://x\0')],
  ];
  test.each(invalid)('refuses %s', (_name, mutate) => {
    const spec = makeSpec();
    mutate(spec);
    expect(() => kubectlCommands(spec)).toThrow(InvalidCredentialSpecError);
  });
});

/** Runs rendered commands in a real shell, stopping at the first failure. */
function runRendered(shell: 'bash' | 'fish', spec: CredentialSpec, env: Env) {
  const script = renderCommands(shell, kubectlCommands(spec));
  return shell === 'bash'
    ? run('bash', ['--norc', '--noprofile', '-e', '-c', script], env)
    : run('fish', ['--no-config', '-c', script.split('\n').map((line) => `${line}; or exit 1`).join('\n')], env);
}

/**
 * The real thing: bash/fish + /usr/bin/kubectl into an empty KUBECONFIG. The
 * result must equal what kubectl reads from buildKubeconfig's file.
 */
describe.each(['bash', 'fish'] as const)('real %s + kubectl', (shell) => {
  test('two clusters end up side by side, identical to buildKubeconfig', { timeout: 30_000 }, () => {
    const box = sandbox();
    const reference = sandbox();
    try {
      const first = makeSpec({ username: "o'neil@example.com", clientSecret: HOSTILE_SECRET, refreshToken: 'rt,=x-' });
      const second = makeSpec({ cluster: 'staging.eu', withCas: false, idToken: 'eyJ.second.sig' });
      for (const spec of [first, second]) {
        const result = runRendered(shell, spec, box.env);
        expect(result.status, result.stderr).toBe(0);
      }
      const view = viewConfig(box.env);
      expect(view.contexts?.map((c) => c.name)).toEqual(['alice@staging-eu', 'o-neil-example-com@prod']);
      expect(view['current-context']).toBe('alice@staging-eu');
      expect(view.users?.find((u) => u.name === first.user.name)?.user['auth-provider']).toEqual({
        name: 'oidc',
        config: {
          'idp-issuer-url': 'https://login.example/kubegate',
          'client-id': 'kubectl',
          'client-secret': HOSTILE_SECRET,
          'id-token': first.user.idToken,
          'refresh-token': 'rt,=x-',
          'idp-certificate-authority-data': b64(ISSUER_CA_PEM),
        },
      });

      writeFileSync(reference.kubeconfig, toYaml(buildKubeconfig([first, second], second.context.name)));
      expect(view).toEqual(viewConfig(reference.env));
    } finally {
      box.cleanup();
      reference.cleanup();
    }
  });
});

describe('real bash + kubectl: re-running', () => {
  test('replaces tokens and drops a secret that is no longer issued', { timeout: 30_000 }, () => {
    const box = sandbox();
    try {
      expect(runRendered('bash', makeSpec({ clientSecret: 'old', refreshToken: 'rt-old' }), box.env).status).toBe(0);
      const renewed = makeSpec({ refreshToken: 'rt-new', withCas: false });
      expect(runRendered('bash', renewed, box.env).status).toBe(0);
      const config = viewConfig(box.env).users?.[0]?.user['auth-provider']?.config;
      expect(config).toEqual({ 'idp-issuer-url': 'https://login.example/kubegate', 'client-id': 'kubectl', 'id-token': renewed.user.idToken, 'refresh-token': 'rt-new' });
    } finally {
      box.cleanup();
    }
  });
});

/** Why authProviderArg CSV-quotes: kubectl parses each --auth-provider-arg as a CSV record. */
describe('real kubectl: --auth-provider-arg parsing', () => {
  test('an unquoted comma injects a key, a quoted one survives; "=" needs nothing', { timeout: 30_000 }, () => {
    const box = sandbox();
    try {
      const set = (user: string, arg: string) => run('kubectl', ['config', 'set-credentials', user, '--auth-provider=oidc', arg], box.env);
      expect(set('raw', '--auth-provider-arg=client-secret=x=,y=z').status).toBe(0);
      expect(set('quoted', authProviderArg('client-secret', 'x=,y=z')).status).toBe(0);
      expect(set('bare-quote', '--auth-provider-arg=client-secret=a"b').stderr).toContain('bare " in non-quoted-field');
      const configs = Object.fromEntries((viewConfig(box.env).users ?? []).map((u) => [u.name, u.user['auth-provider']?.config]));
      expect(configs).toEqual({ raw: { 'client-secret': 'x=', y: 'z' }, quoted: { 'client-secret': 'x=,y=z' } });
    } finally {
      box.cleanup();
    }
  });
});
