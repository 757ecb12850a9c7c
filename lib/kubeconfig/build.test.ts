import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, test } from 'vitest';
import { buildKubeconfig, toYaml } from './build';
import { InvalidCredentialSpecError } from './errors';
import { CLUSTER_CA_PEM, ISSUER_CA_PEM, LONG_ID_TOKEN, makeSpec } from '../../test/kubeconfig/fixtures';
import { sandbox, sortedByName, viewConfig } from '../../test/kubeconfig/kubectl';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** Values YAML 1.1 (kubectl) and YAML 1.2 (js-yaml) read differently, or that need quoting at all. */
const YAML_HOSTILE_SECRET = "1_000: yes #no 's3cr'et\"$(x)=,;'";

describe('buildKubeconfig', () => {
  test('one spec: the exact kubeconfig object', () => {
    const spec = makeSpec({ clientSecret: 's3cr3t' });
    expect(buildKubeconfig([spec])).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      preferences: {},
      clusters: [{ name: 'prod', cluster: { server: 'https://prod.k8s.example:6443', 'certificate-authority-data': b64(CLUSTER_CA_PEM) } }],
      users: [
        {
          name: 'alice@prod',
          user: {
            'auth-provider': {
              name: 'oidc',
              config: {
                'idp-issuer-url': 'https://login.example/kubegate',
                'client-id': 'kubectl',
                'client-secret': 's3cr3t',
                'id-token': LONG_ID_TOKEN,
                'refresh-token': 'rt_0123456789abcdef',
                'idp-certificate-authority-data': b64(ISSUER_CA_PEM),
              },
            },
          },
        },
      ],
      contexts: [{ name: 'alice@prod', context: { cluster: 'prod', user: 'alice@prod', namespace: 'default' } }],
      'current-context': 'alice@prod',
    });
  });

  test('optional secret and CAs are left out when absent', () => {
    const config = buildKubeconfig([makeSpec({ withCas: false })]);
    expect(config.clusters[0]?.cluster).toEqual({ server: 'https://prod.k8s.example:6443' });
    const user = config.users[0]?.user;
    expect(Object.keys(user && 'auth-provider' in user ? user['auth-provider'].config : {})).toEqual(['idp-issuer-url', 'client-id', 'id-token', 'refresh-token']);
  });

  test('several specs: one entry per name, identical repeats merged, current context selectable', () => {
    const specs = [makeSpec({ cluster: 'prod' }), makeSpec({ cluster: 'staging' }), makeSpec({ username: 'bob', cluster: 'prod' })];
    const config = buildKubeconfig(specs, 'alice@staging');
    expect(config.clusters.map((c) => c.name)).toEqual(['prod', 'staging']);
    expect(config.contexts.map((c) => c.name)).toEqual(['alice@prod', 'alice@staging', 'bob@prod']);
    expect(config['current-context']).toBe('alice@staging');
    expect(buildKubeconfig(specs)['current-context']).toBe('alice@prod');
    expect(buildKubeconfig([])['current-context']).toBe('');
  });

  test('conflicting entries with one name and an unknown current context are refused', () => {
    const other = makeSpec();
    other.cluster.server = 'https://elsewhere.example';
    expect(() => buildKubeconfig([makeSpec(), other])).toThrow(InvalidCredentialSpecError);
    expect(() => buildKubeconfig([makeSpec()], 'nope')).toThrow(InvalidCredentialSpecError);
  });
});

describe('toYaml', () => {
  test('never wraps long tokens and quotes every string value', () => {
    const text = toYaml(buildKubeconfig([makeSpec({ clientSecret: '1_000' })]));
    expect(text).toContain(`id-token: '${LONG_ID_TOKEN}'\n`);
    expect(text).toContain(`client-secret: '1_000'\n`);
    expect(text).toMatch(/^apiVersion: 'v1'\nkind: 'Config'\npreferences: \{\}\n/);
  });

  test('round-trips through @kubernetes/client-node', () => {
    const spec = makeSpec({ clientSecret: YAML_HOSTILE_SECRET });
    const kc = new KubeConfig();
    kc.loadFromString(toYaml(buildKubeconfig([spec])));
    expect(kc.getCurrentContext()).toBe('alice@prod');
    expect(kc.getContexts()).toEqual([{ name: 'alice@prod', cluster: 'prod', user: 'alice@prod', namespace: 'default' }]);
    expect(kc.getCluster('prod')).toMatchObject({ name: 'prod', server: spec.cluster.server, caData: b64(CLUSTER_CA_PEM) });
    expect(kc.getUser('alice@prod')?.authProvider).toEqual({
      name: 'oidc',
      config: {
        'idp-issuer-url': spec.user.issuerUrl,
        'client-id': 'kubectl',
        'client-secret': YAML_HOSTILE_SECRET,
        'id-token': LONG_ID_TOKEN,
        'refresh-token': spec.user.refreshToken,
        'idp-certificate-authority-data': b64(ISSUER_CA_PEM),
      },
    });
  });

  test('real kubectl reads the file back unchanged (YAML 1.1 traps included)', () => {
    const box = sandbox();
    try {
      const specs = [makeSpec({ clientSecret: YAML_HOSTILE_SECRET }), makeSpec({ cluster: 'on', refreshToken: '0o17', idToken: 'yes' })];
      const config = buildKubeconfig(specs);
      writeFileSync(path.join(box.dir, 'config'), toYaml(config));
      expect(viewConfig(box.env)).toEqual(sortedByName(config));
    } finally {
      box.cleanup();
    }
  });
});
