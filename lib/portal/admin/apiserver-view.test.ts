import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load';
import { apiServerView } from './apiserver-view';

const config = parseConfig(
  `
issuer: { url: https://login.example.com }
clusters:
  - { name: dev, server: https://dev.example.com:6443, client_id: dev, allowed_groups: [kubegate:dev] }
  - { name: prod, server: https://prod.example.com:6443, client_id: prod }
`,
  { source: 'test.yaml' },
);

describe('apiServerView', () => {
  it('shows the first cluster by default: flags, v1 AuthenticationConfiguration, RBAC', () => {
    const v = apiServerView(config, {});
    expect(v.clusters).toEqual(['dev', 'prod']);
    expect(v.selected).toBe('dev');
    expect(v.errors).toEqual([]);
    const text = v.sections.map((s) => `${s.title}\n${s.lines.join('\n')}`).join('\n');
    expect(text).toContain('--oidc-issuer-url=https://login.example.com');
    expect(text).toContain('--oidc-client-id=dev');
    expect(text).toContain('apiVersion: apiserver.config.k8s.io/v1');
    expect(text).toContain('kind: ClusterRoleBinding');
  });
  it('picks a cluster and a Kubernetes version (v1beta1 before 1.34)', () => {
    const v = apiServerView(config, { cluster: 'prod', version: '1.31' });
    expect(v.selected).toBe('prod');
    expect(v.sections.flatMap((s) => s.lines)).toContain('apiVersion: apiserver.config.k8s.io/v1beta1');
    expect(v.sections.flatMap((s) => s.lines).join('\n')).toContain('--oidc-client-id=prod');
  });
  it('names an unknown cluster or a bad version and shows the defaults instead', () => {
    const v = apiServerView(config, { cluster: 'nope', version: 'latest' });
    expect(v.selected).toBe('dev');
    expect(v.kubernetesMinor).toBe(34);
    expect(v.errors).toEqual(['cluster: no cluster is named "nope"', 'version: must be a Kubernetes version such as 1.34']);
  });
  it('has nothing to show without clusters', () => {
    const none = parseConfig('issuer: { url: https://login.example.com }\n', { source: 'test.yaml' });
    const v = apiServerView(none, {});
    expect(v.selected).toBeUndefined();
    expect(v).toMatchObject({ clusters: [], sections: [] });
  });
});
