import { describe, expect, test } from 'vitest';
import { kubectlCommands } from './commands';
import { renderCommand, renderCommands, SHELLS, UnsafeForShellError } from './render';
import { makeSpec } from '../../test/kubeconfig/fixtures';
import type { Shell } from './types';

/** A realistic spec whose client secret still carries $, ', ;, (), %: renderable everywhere. */
function portableSpec() {
  const spec = makeSpec({ username: 'alice@example.com', clientSecret: "s3cr'et$(x)=;%PATH%", idToken: 'eyJ.e30.sig', refreshToken: 'rt_1', withCas: false });
  spec.cluster.caPem = 'PEM';
  return spec;
}

const CREDENTIALS_PREFIX = 'kubectl config set-credentials alice-example-com@prod --auth-provider=oidc --auth-provider-arg=idp-issuer-url=https://login.example/kubegate --auth-provider-arg=client-id=kubectl';
const CREDENTIALS_SUFFIX = '--auth-provider-arg=id-token=eyJ.e30.sig --auth-provider-arg=refresh-token=rt_1 --auth-provider-arg=idp-certificate-authority-data-';
const SHARED_TAIL = [
  'kubectl config set contexts.alice-example-com@prod.cluster prod',
  'kubectl config set contexts.alice-example-com@prod.user alice-example-com@prod',
  'kubectl config set contexts.alice-example-com@prod.namespace default',
  'kubectl config use-context alice-example-com@prod',
];
const HEAD = ['kubectl config set-cluster prod --server=https://prod.k8s.example:6443', 'kubectl config set clusters.prod.certificate-authority-data UEVN'];

/** Exact output per shell; only the client-secret argument differs between POSIX, fish and cmd. */
const EXPECTED: Record<Shell, string> = {
  bash: [...HEAD, `${CREDENTIALS_PREFIX} '--auth-provider-arg=client-secret=s3cr'\\''et$(x)=;%PATH%' ${CREDENTIALS_SUFFIX}`, ...SHARED_TAIL].join('\n'),
  fish: [...HEAD, `${CREDENTIALS_PREFIX} '--auth-provider-arg=client-secret=s3cr\\'et$(x)=;%PATH%' ${CREDENTIALS_SUFFIX}`, ...SHARED_TAIL].join('\n'),
  cmd: [...HEAD, `${CREDENTIALS_PREFIX} --auth-provider-arg=client-secret=s3cr'et$^(x^)=;^%PATH^% ${CREDENTIALS_SUFFIX}`, ...SHARED_TAIL].join('\n'),
  powershell: [
    "kubectl 'config' 'set-cluster' 'prod' '--server=https://prod.k8s.example:6443'",
    "kubectl 'config' 'set' 'clusters.prod.certificate-authority-data' 'UEVN'",
    "kubectl 'config' 'set-credentials' 'alice-example-com@prod' '--auth-provider=oidc' '--auth-provider-arg=idp-issuer-url=https://login.example/kubegate' '--auth-provider-arg=client-id=kubectl' '--auth-provider-arg=client-secret=s3cr''et$(x)=;%PATH%' '--auth-provider-arg=id-token=eyJ.e30.sig' '--auth-provider-arg=refresh-token=rt_1' '--auth-provider-arg=idp-certificate-authority-data-'",
    "kubectl 'config' 'set' 'contexts.alice-example-com@prod.cluster' 'prod'",
    "kubectl 'config' 'set' 'contexts.alice-example-com@prod.user' 'alice-example-com@prod'",
    "kubectl 'config' 'set' 'contexts.alice-example-com@prod.namespace' 'default'",
    "kubectl 'config' 'use-context' 'alice-example-com@prod'",
  ].join('\n'),
};

describe('renderCommands', () => {
  test('SHELLS lists every shell once', () => {
    expect([...SHELLS].sort()).toEqual(['bash', 'cmd', 'fish', 'powershell']);
  });

  test.each(SHELLS)('%s: exact output, one command per line', (shell) => {
    expect(renderCommands(shell, kubectlCommands(portableSpec()))).toBe(EXPECTED[shell]);
  });

  test.each(SHELLS)('%s: renderCommand renders each line of renderCommands', (shell) => {
    const commands = kubectlCommands(portableSpec());
    expect(commands.map((c) => renderCommand(shell, c)).join('\n')).toBe(renderCommands(shell, commands));
  });

  /** A ',' or '"' in a value needs a CSV-quoted flag (argv contains '"'), which neither Windows shell can pass intact. */
  const windowsRefusals: [Shell, string][] = [
    ['powershell', 'a"b'],
    ['powershell', 'a,b'],
    ['cmd', 'a"b'],
    ['cmd', 'a,b'],
  ];
  test.each(windowsRefusals)('%s refuses a client secret %j', (shell, clientSecret) => {
    const commands = kubectlCommands(makeSpec({ clientSecret }));
    expect(() => renderCommands(shell, commands)).toThrow(UnsafeForShellError);
    expect(() => renderCommands(shell, commands)).toThrow(new RegExp(`^cannot render this command for ${shell}: `));
  });

  test.each(['bash', 'fish'] as const)('%s renders those secrets', (shell) => {
    expect(renderCommands(shell, kubectlCommands(makeSpec({ clientSecret: 'a"b,c' })))).toContain('--auth-provider-arg="client-secret=a""b,c"');
  });

  test.each(SHELLS)('%s refuses a multi-line value and an empty argv', (shell) => {
    expect(() => renderCommand(shell, { title: 't', argv: ['kubectl', 'a\nb'] })).toThrow(UnsafeForShellError);
    expect(() => renderCommand(shell, { title: 't', argv: [] })).toThrow(RangeError);
  });
});
