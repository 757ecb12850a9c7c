import { describe, expect, test } from 'vitest';
import { kubeconfigNames, safeName } from './names';
import { run, sandbox } from '../../test/kubeconfig/kubectl';

describe('kubeconfigNames', () => {
  const cases: [string, string, string, string][] = [
    // username, cluster, expected cluster entry, expected user/context
    ['alice', 'prod', 'prod', 'alice@prod'],
    ['alice@example.com', 'prod.eu-1', 'prod-eu-1', 'alice-example-com@prod-eu-1'],
    ["o'neil.jr", 'k8s', 'k8s', 'o-neil-jr@k8s'],
    ['Bob Smith', 'Prod Cluster', 'Prod-Cluster', 'Bob-Smith@Prod-Cluster'],
    ['under_score', 'c_1', 'c_1', 'under_score@c_1'],
    ['x..y--z', 'a . b', 'a-b', 'x-y-z@a-b'],
    ['-rf', '--cluster', 'cluster', 'rf@cluster'],
    ['ünïcode', '日本', 'cluster', 'n-code@cluster'],
    ['', '', 'cluster', 'user@cluster'],
    ['...', '@@@', 'cluster', 'user@cluster'],
    ['$(id)`id`;|&', 'c', 'c', 'id-id@c'],
  ];
  test.each(cases)('(%j, %j) → %s, %s', (username, cluster, clusterName, userName) => {
    expect(kubeconfigNames(username, cluster)).toEqual({ cluster: clusterName, user: userName, context: userName });
  });

  test('caps each part at 63 characters and never ends in "-"', () => {
    expect(safeName('a'.repeat(100), 'user')).toBe('a'.repeat(63));
    expect(safeName(`${'a'.repeat(62)}.b`, 'user')).toBe('a'.repeat(62));
  });

  test('names from different clusters never collide', () => {
    expect(kubeconfigNames('alice', 'prod').context).not.toBe(kubeconfigNames('alice', 'staging').context);
  });
});

/**
 * Why names carry no dots: `kubectl config set` splits its property path on
 * '.'. kubectl 1.32 re-joins a dotted name up to the next known field name,
 * so `contexts.a.b.cluster` happens to work, but `x.cluster.y` is cut at
 * `.cluster` and the command fails.
 */
describe('real kubectl: names in `kubectl config set` paths', () => {
  test('a dotted name that contains a field name breaks the path; the generated name works', () => {
    const box = sandbox();
    try {
      const dotted = run('kubectl', ['config', 'set', 'contexts.x.cluster.y.user', 'u'], box.env);
      expect(dotted.status).not.toBe(0);
      expect(dotted.stderr).toContain('unable to parse one or more field values');

      const { context } = kubeconfigNames('x', 'cluster.y');
      expect(context).toBe('x@cluster-y');
      expect(run('kubectl', ['config', 'set', `contexts.${context}.user`, 'u'], box.env).status).toBe(0);
    } finally {
      box.cleanup();
    }
  });
});
