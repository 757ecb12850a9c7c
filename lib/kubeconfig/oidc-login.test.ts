import { writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { buildKubeconfig, toYaml } from './build';
import { execArg, oidcLoginCommands } from './commands';
import { InvalidCredentialSpecError } from './errors';
import { INSTALL_HINT, oidcLoginArgs, oidcLoginNames } from './oidc-login';
import { renderCommands } from './render';
import { CLUSTER_CA_PEM, ISSUER_CA_PEM, makeSpec } from '../../test/kubeconfig/fixtures';
import { run, sandbox, viewConfig, type Env } from '../../test/kubeconfig/kubectl';
import type { ExecSpec, LoginFlow } from './types';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const HOSTILE_SECRET = `s3cr'et"$(x)=,;`;

function execSpec(options: { cluster?: string; flow?: LoginFlow; clientSecret?: string; withCas?: boolean; issuerUrl?: string } = {}): ExecSpec {
  const names = oidcLoginNames(options.cluster ?? 'prod');
  const withCas = options.withCas ?? true;
  return {
    cluster: { name: names.cluster, server: `https://${names.cluster}.k8s.example:6443`, ...(withCas && { caPem: CLUSTER_CA_PEM }) },
    user: {
      name: names.user,
      issuerUrl: options.issuerUrl ?? 'https://login.example/kubegate',
      clientId: 'kubectl',
      ...(options.clientSecret !== undefined && { clientSecret: options.clientSecret }),
      ...(withCas && { issuerCaPem: ISSUER_CA_PEM }),
      flow: options.flow ?? 'browser',
    },
    context: { name: names.context, namespace: 'default' },
  };
}

describe('oidcLoginNames', () => {
  test('name no person, and never collide with the token form', () => {
    expect(oidcLoginNames('prod.eu')).toEqual({ cluster: 'prod-eu', user: 'oidc-login@prod-eu', context: 'oidc-login@prod-eu' });
  });
});

describe('oidcLoginArgs', () => {
  test('browser flow, public client, publicly trusted issuer: issuer and client only', () => {
    expect(oidcLoginArgs(execSpec({ withCas: false }).user)).toEqual([
      'oidc-login',
      'get-token',
      '--oidc-issuer-url=https://login.example/kubegate',
      '--oidc-client-id=kubectl',
    ]);
  });

  test('device flow, confidential client, private issuer CA: secret, CA data and grant type', () => {
    expect(oidcLoginArgs(execSpec({ flow: 'device-code', clientSecret: HOSTILE_SECRET }).user)).toEqual([
      'oidc-login',
      'get-token',
      '--oidc-issuer-url=https://login.example/kubegate',
      '--oidc-client-id=kubectl',
      `--oidc-client-secret=${HOSTILE_SECRET}`,
      `--certificate-authority-data=${b64(ISSUER_CA_PEM)}`,
      '--grant-type=device-code',
    ]);
  });
});

describe('buildKubeconfig with an exec spec', () => {
  test('the exact user entry: v1, IfAvailable, no cluster info, the krew hint, no token', () => {
    const config = buildKubeconfig([execSpec({ flow: 'device-code' })]);
    expect(config.users).toEqual([
      {
        name: 'oidc-login@prod',
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: 'kubectl',
            args: [
              'oidc-login',
              'get-token',
              '--oidc-issuer-url=https://login.example/kubegate',
              '--oidc-client-id=kubectl',
              `--certificate-authority-data=${b64(ISSUER_CA_PEM)}`,
              '--grant-type=device-code',
            ],
            installHint: INSTALL_HINT,
            interactiveMode: 'IfAvailable',
            provideClusterInfo: false,
          },
        },
      },
    ]);
    expect(INSTALL_HINT).toContain('kubectl krew install oidc-login');
    expect(config.contexts).toEqual([{ name: 'oidc-login@prod', context: { cluster: 'prod', user: 'oidc-login@prod', namespace: 'default' } }]);
    expect(toYaml(config)).not.toMatch(/id-token|refresh-token/);
  });

  test('sits beside the token form of the same cluster in one file; kubectl reads both', () => {
    const box = sandbox();
    try {
      const legacy = makeSpec({ clientSecret: 'x' });
      writeFileSync(box.kubeconfig, toYaml(buildKubeconfig([legacy, execSpec({ clientSecret: 'x' })])));
      const view = viewConfig(box.env);
      expect(view.users?.map((u) => u.name)).toEqual(['alice@prod', 'oidc-login@prod']);
      expect(view.clusters?.map((c) => c.name)).toEqual(['prod']);
      const exec = (view.users?.[1]?.user as { exec?: Record<string, unknown> }).exec;
      expect(exec).toMatchObject({ apiVersion: 'client.authentication.k8s.io/v1', command: 'kubectl', interactiveMode: 'IfAvailable', installHint: INSTALL_HINT });
    } finally {
      box.cleanup();
    }
  });
});

describe('execArg', () => {
  const cases: [string, string][] = [
    ['--oidc-client-id=kubectl', '--exec-arg=--oidc-client-id=kubectl'],
    ['--oidc-client-secret=a=b==', '--exec-arg=--oidc-client-secret=a=b=='],
    ['--oidc-client-secret=a,b', '--exec-arg="--oidc-client-secret=a,b"'],
    ['--oidc-client-secret=say "hi"', '--exec-arg="--oidc-client-secret=say ""hi"""'],
  ];
  test.each(cases)('%j → %s', (arg, expected) => {
    expect(execArg(arg)).toBe(expected);
  });
});

describe('oidcLoginCommands', () => {
  test('the exact argv: set-cluster, CA, set-credentials with one --exec-arg per argument, context', () => {
    const commands = oidcLoginCommands(execSpec({ clientSecret: 'a,b' }));
    expect(commands.map((c) => c.argv)).toEqual([
      ['kubectl', 'config', 'set-cluster', 'prod', '--server=https://prod.k8s.example:6443'],
      ['kubectl', 'config', 'set', 'clusters.prod.certificate-authority-data', b64(CLUSTER_CA_PEM)],
      [
        'kubectl', 'config', 'set-credentials', 'oidc-login@prod',
        '--exec-command=kubectl',
        '--exec-api-version=client.authentication.k8s.io/v1',
        '--exec-arg=oidc-login',
        '--exec-arg=get-token',
        '--exec-arg=--oidc-issuer-url=https://login.example/kubegate',
        '--exec-arg=--oidc-client-id=kubectl',
        '--exec-arg="--oidc-client-secret=a,b"',
        `--exec-arg=--certificate-authority-data=${b64(ISSUER_CA_PEM)}`,
        '--exec-interactive-mode=IfAvailable',
        '--exec-provide-cluster-info=false',
      ],
      ['kubectl', 'config', 'set', 'contexts.oidc-login@prod.cluster', 'prod'],
      ['kubectl', 'config', 'set', 'contexts.oidc-login@prod.user', 'oidc-login@prod'],
      ['kubectl', 'config', 'set', 'contexts.oidc-login@prod.namespace', 'default'],
      ['kubectl', 'config', 'use-context', 'oidc-login@prod'],
    ]);
    expect(commands[2]?.note).toContain('opens your browser');
    expect(oidcLoginCommands(execSpec({ flow: 'device-code' }))[2]?.note).toContain('approve the code');
  });

  const invalid: [string, (spec: ExecSpec) => void][] = [
    ['a line break in the client secret', (s) => (s.user.clientSecret = 'a\nb')],
    ['a NUL in the issuer URL', (s) => (s.user.issuerUrl = 'https://x\0')],
    ['a dotted user name', (s) => (s.user.name = 'a.b')],
  ];
  test.each(invalid)('refuses %s', (_name, mutate) => {
    const spec = execSpec();
    mutate(spec);
    expect(() => oidcLoginCommands(spec)).toThrow(InvalidCredentialSpecError);
  });
});

/** Runs rendered commands in a real shell, stopping at the first failure. */
function runRendered(shell: 'bash' | 'fish', spec: ExecSpec, env: Env) {
  const script = renderCommands(shell, oidcLoginCommands(spec));
  return shell === 'bash'
    ? run('bash', ['--norc', '--noprofile', '-e', '-c', script], env)
    : run('fish', ['--no-config', '-c', script.split('\n').map((line) => `${line}; or exit 1`).join('\n')], env);
}

interface ExecView {
  exec?: { args?: string[]; installHint?: string; [key: string]: unknown };
}

const execOf = (env: Env, user: string) => (viewConfig(env).users?.find((u) => u.name === user)?.user as ExecView | undefined)?.exec;

describe.each(['bash', 'fish'] as const)('real %s + kubectl', (shell) => {
  test('the commands give what the downloadable file gives (but the install hint), hostile values intact', { timeout: 30_000 }, () => {
    const box = sandbox();
    const reference = sandbox();
    try {
      const spec = execSpec({ clientSecret: HOSTILE_SECRET, flow: 'device-code', issuerUrl: 'https://login.example/a,b' });
      const result = runRendered(shell, spec, box.env);
      expect(result.status, result.stderr).toBe(0);
      const exec = execOf(box.env, 'oidc-login@prod');
      expect(exec?.args).toEqual(oidcLoginArgs(spec.user));
      expect(exec?.args).toContain(`--oidc-client-secret=${HOSTILE_SECRET}`);

      writeFileSync(reference.kubeconfig, toYaml(buildKubeconfig([spec])));
      const fromFile = viewConfig(reference.env);
      const fromCommands = viewConfig(box.env);
      // `kubectl config` has no way to set installHint; the file carries it, the commands cannot.
      const hintless = fromFile.users?.map((u) => ({ ...u, user: { exec: { ...(u.user as ExecView).exec, installHint: undefined } } }));
      expect(JSON.parse(JSON.stringify({ ...fromFile, users: hintless }))).toEqual(fromCommands);
    } finally {
      box.cleanup();
      reference.cleanup();
    }
  });
});

describe('real bash + kubectl: re-running', () => {
  test('switching from the device-code flow to the browser replaces every argument', { timeout: 30_000 }, () => {
    const box = sandbox();
    try {
      expect(runRendered('bash', execSpec({ flow: 'device-code', clientSecret: 'old' }), box.env).status).toBe(0);
      const browser = execSpec({ flow: 'browser', withCas: false });
      expect(runRendered('bash', browser, box.env).status).toBe(0);
      expect(execOf(box.env, 'oidc-login@prod')?.args).toEqual([
        'oidc-login',
        'get-token',
        '--oidc-issuer-url=https://login.example/kubegate',
        '--oidc-client-id=kubectl',
      ]);
    } finally {
      box.cleanup();
    }
  });

  test('an unquoted comma in --exec-arg splits the argument; execArg keeps it whole', { timeout: 30_000 }, () => {
    const box = sandbox();
    try {
      const set = (user: string, arg: string) => run('kubectl', ['config', 'set-credentials', user, '--exec-command=kubectl', arg], box.env);
      expect(set('raw', '--exec-arg=--oidc-client-secret=x,y').status).toBe(0);
      expect(set('quoted', execArg('--oidc-client-secret=x,y')).status).toBe(0);
      expect(execOf(box.env, 'raw')?.args).toEqual(['--oidc-client-secret=x', 'y']);
      expect(execOf(box.env, 'quoted')?.args).toEqual(['--oidc-client-secret=x,y']);
    } finally {
      box.cleanup();
    }
  });
});
