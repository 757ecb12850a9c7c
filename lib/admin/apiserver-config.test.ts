import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { schemaProblems, unknownFieldProblems } from '../../deploy/test-support/schema';
import type { K8sObject } from '../../deploy/test-support/render';
import { minimalYaml, parseTestConfig, TEST_CA_PEM } from '../../test/support/fixtures';
import { apiServerSetup, authnApiVersion, parseKubernetesVersion, renderApiServerSetup } from './apiserver-config';
import { AdminError } from './errors';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLUSTERS = `clusters:
  - name: prod
    server: https://prod.k8s.example.com:6443
    client_id: kubernetes
    allowed_groups: [developers, "SRE on-call", sre-on-call]
  - name: lab
    server: https://lab.k8s.example.com
    client_id: lab
`;
const publicCa = () => parseTestConfig(minimalYaml(CLUSTERS));
const privateCa = () =>
  parseTestConfig(
    minimalYaml(CLUSTERS)
      .replace('issuer:\n', `issuer:\n  id_token_lifetime: 2m\n  certificate_authority:\n    data: |\n${TEST_CA_PEM.split('\n').map((l) => '      ' + l).join('\n')}\n`)
      .concat('signing:\n  algorithm: ES256\n'),
  );

/**
 * AuthenticationConfiguration as documented (kube-apiserver Configuration v1 and v1beta1 reference,
 * kubernetes.io "Authenticating"): strict, so a misspelt or invented field fails here.
 */
const Rule = z.strictObject({ expression: z.string().min(1), message: z.string().min(1) });
const Prefixed = z.strictObject({ claim: z.string().min(1), prefix: z.string() });
const AuthenticationConfigurationSchema = z.strictObject({
  apiVersion: z.enum(['apiserver.config.k8s.io/v1', 'apiserver.config.k8s.io/v1beta1']),
  kind: z.literal('AuthenticationConfiguration'),
  jwt: z
    .array(
      z.strictObject({
        issuer: z.strictObject({
          url: z.string().url(),
          discoveryURL: z.string().optional(),
          certificateAuthority: z.string().optional(),
          audiences: z.array(z.string()).min(1),
          audienceMatchPolicy: z.literal('MatchAny').optional(),
        }),
        claimValidationRules: z.array(z.union([Rule, z.strictObject({ claim: z.string(), requiredValue: z.string() })])).optional(),
        claimMappings: z.strictObject({
          username: Prefixed,
          groups: Prefixed.optional(),
          uid: z.strictObject({ claim: z.string() }).optional(),
          extra: z.array(z.strictObject({ key: z.string(), valueExpression: z.string() })).optional(),
        }),
        userValidationRules: z.array(Rule).optional(),
      }),
    )
    .min(1),
});

describe('kubegate apiserver-config', () => {
  it('prints the kube-apiserver flags for a cluster behind a public CA, signing RS256', () => {
    expect(apiServerSetup(publicCa(), 'prod').flags).toEqual([
      '--oidc-issuer-url=https://kubegate.example.com',
      '--oidc-client-id=kubernetes',
      '--oidc-username-claim=preferred_username',
      '--oidc-username-prefix=kubegate:',
      '--oidc-groups-claim=groups',
      '--oidc-groups-prefix=kubegate:',
    ]);
    expect(apiServerSetup(publicCa(), 'lab').flags[1]).toBe('--oidc-client-id=lab');
  });

  it('adds --oidc-ca-file for an issuer with a private CA (and says what to put there), and --oidc-signing-algs=ES256', () => {
    const setup = apiServerSetup(privateCa(), 'prod', { caFile: '/etc/kubernetes/pki/kg.pem' });
    expect(setup.flags.slice(6)).toEqual(['--oidc-ca-file=/etc/kubernetes/pki/kg.pem', '--oidc-signing-algs=ES256']);
    expect(setup.caFile).toEqual({ path: '/etc/kubernetes/pki/kg.pem', pem: TEST_CA_PEM + '\n' });
    expect(setup.authenticationConfiguration!.jwt[0]!.issuer.certificateAuthority).toBe(TEST_CA_PEM + '\n');
    expect(setup.notes).toContain('While changing signing.algorithm, let the API server accept both: --oidc-signing-algs=RS256,ES256.');
  });

  it('builds the structured AuthenticationConfiguration: issuer, audience, claim mappings, a rule refusing long-lived tokens', () => {
    const config = apiServerSetup(privateCa(), 'prod').authenticationConfiguration;
    expect(config).toEqual({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AuthenticationConfiguration',
      jwt: [
        {
          issuer: { url: 'https://kubegate.example.com', audiences: ['kubernetes'], certificateAuthority: TEST_CA_PEM + '\n' },
          claimValidationRules: [
            {
              expression: 'claims.exp - claims.iat <= 120',
              message: 'Kubegate id_tokens live at most 120 seconds (issuer.id_token_lifetime); this token lives longer',
            },
          ],
          claimMappings: {
            username: { claim: 'preferred_username', prefix: 'kubegate:' },
            groups: { claim: 'groups', prefix: 'kubegate:' },
            uid: { claim: 'sub' },
          },
          userValidationRules: [
            { expression: "!user.username.startsWith('system:')", message: 'usernames in the system: namespace are reserved for Kubernetes' },
            { expression: "user.groups.all(group, !group.startsWith('system:'))", message: 'groups in the system: namespace are reserved for Kubernetes' },
          ],
        },
      ],
    });
    expect(AuthenticationConfigurationSchema.safeParse(config).success).toBe(true);
    // The strict schema above is what catches a misspelt field.
    expect(AuthenticationConfigurationSchema.safeParse({ ...config, jwt: [{ ...config!.jwt[0], claimValidationRule: [] }] }).success).toBe(false);
    expect(apiServerSetup(publicCa(), 'prod').authenticationConfiguration!.jwt[0]!.issuer).toEqual({ url: 'https://kubegate.example.com', audiences: ['kubernetes'] });
  });

  it('picks the AuthenticationConfiguration version from the Kubernetes version: v1 from 1.34, v1beta1 on 1.30-1.33, none before', () => {
    expect([29, 30, 33, 34, 40].map(authnApiVersion)).toEqual([
      undefined,
      'apiserver.config.k8s.io/v1beta1',
      'apiserver.config.k8s.io/v1beta1',
      'apiserver.config.k8s.io/v1',
      'apiserver.config.k8s.io/v1',
    ]);
    expect(['1.34', 'v1.33.2', '1.30.0'].map(parseKubernetesVersion)).toEqual([34, 33, 30]);
    for (const bad of ['34', '2.1', '1.x', '']) expect(() => parseKubernetesVersion(bad)).toThrow(AdminError);
    const old = apiServerSetup(publicCa(), 'prod', { kubernetesMinor: 29 });
    expect(old.authenticationConfiguration).toBeUndefined();
    expect(() => renderApiServerSetup(old, 'authentication-config')).toThrow(/1\.29 has no structured authentication configuration/);
    expect(apiServerSetup(publicCa(), 'prod', { kubernetesMinor: 32 }).authenticationConfiguration!.apiVersion).toBe('apiserver.config.k8s.io/v1beta1');
  });

  it('RBAC: a ClusterRoleBinding per allowed group, named as the API server sees it (with the groups prefix), valid for the Kubernetes API', async () => {
    const { rbac } = apiServerSetup(publicCa(), 'prod', { groupsPrefix: 'kg:' });
    expect(rbac.map((b) => [b.metadata.name, b.subjects[0]!.name, b.roleRef.name])).toEqual([
      ['kubegate-prod-developers', 'kg:developers', 'view'],
      ['kubegate-prod-sre-on-call', 'kg:SRE on-call', 'view'],
      ['kubegate-prod-sre-on-call-2', 'kg:sre-on-call', 'view'],
    ]);
    expect(await schemaProblems(rbac as unknown as K8sObject[])).toEqual([]);
    expect(unknownFieldProblems(rbac as unknown as K8sObject[])).toEqual([]);
    const open = apiServerSetup(publicCa(), 'lab');
    expect(open.rbac).toEqual([]);
    expect(open.notes.join('\n')).toMatch(/allowed_groups is empty: every signed-in user gets credentials/);
  });

  it("prefixes: '' (or '-') means none: the username flag says '-', the groups flag is left out", () => {
    for (const none of ['', '-']) {
      const setup = apiServerSetup(publicCa(), 'prod', { usernamePrefix: none, groupsPrefix: none });
      expect(setup.flags).toContain('--oidc-username-prefix=-');
      expect(setup.flags.some((f) => f.startsWith('--oidc-groups-prefix'))).toBe(false);
      expect(setup.authenticationConfiguration!.jwt[0]!.claimMappings).toMatchObject({ username: { prefix: '' }, groups: { prefix: '' } });
      expect(setup.rbac[0]!.subjects[0]!.name).toBe('developers');
    }
    expect(() => apiServerSetup(publicCa(), 'prod', { usernamePrefix: 'a b' })).toThrow(/--username-prefix must be printable ASCII/);
    expect(() => apiServerSetup(publicCa(), 'prod', { caFile: '' })).toThrow(/--ca-file/);
  });

  it('an unknown cluster is an error naming the known ones', () => {
    expect(() => apiServerSetup(publicCa(), 'nope')).toThrow(new AdminError('not_found', 'no cluster "nope" in the config (clusters: prod, lab)'));
  });

  it('warns when the issuer is not https (kube-apiserver would refuse it)', () => {
    const dev = parseTestConfig(minimalYaml(CLUSTERS).replace('https://kubegate.example.com', 'http://localhost:3000'));
    expect(apiServerSetup(dev, 'prod').notes[0]).toMatch(/^issuer.url is http:\/\/localhost:3000: kube-apiserver accepts only an https issuer/);
  });

  it('renders each part as it stands: flags one per line, the AuthenticationConfiguration and RBAC as YAML that reads back the same', () => {
    const setup = apiServerSetup(privateCa(), 'prod');
    expect(renderApiServerSetup(setup, 'flags')).toEqual(setup.flags);
    expect(yaml.load(renderApiServerSetup(setup, 'authentication-config').join('\n'))).toEqual(setup.authenticationConfiguration);
    expect(yaml.loadAll(renderApiServerSetup(setup, 'rbac').join('\n'))).toEqual(setup.rbac);
    expect(JSON.parse(renderApiServerSetup(setup, 'json').join('\n'))).toEqual(JSON.parse(JSON.stringify(setup)));
    const text = renderApiServerSetup(setup, 'text').join('\n');
    expect(text).toContain('kube-apiserver refuses --authentication-config together with --oidc-* flags');
    expect(text).toContain(setup.flags.join('\n'));
    expect(text).toContain(TEST_CA_PEM);
    expect(text).toContain('kind: AuthenticationConfiguration');
    expect(text).toContain('kind: ClusterRoleBinding');
  });
});

describe('the admin command (cli.ts)', () => {
  const run = (args: string[], configFile: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli.ts'), ...args], { cwd: ROOT, env: { ...process.env, KUBEGATE_CONFIG: configFile } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  let dir: string;
  let configFile: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-apiserver-config-'));
    configFile = path.join(dir, 'kubegate.yaml');
    fs.writeFileSync(configFile, minimalYaml(CLUSTERS));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints one part as it stands, reads only the config (no database is created), and exits 2 on usage errors', async () => {
    const [flags, rbac, badFormat, noCluster, unknown] = await Promise.all([
      run(['apiserver-config', 'prod', '--format', 'flags', '--groups-prefix', 'kg:'], configFile),
      run(['apiserver-config', 'prod', '--format', 'rbac'], configFile),
      run(['apiserver-config', 'prod', '--format', 'yaml'], configFile),
      run(['apiserver-config'], configFile),
      run(['apiserver-config', 'nope'], configFile),
    ]);
    expect(flags).toMatchObject({ code: 0, stderr: '' });
    expect(flags.stdout).toBe(apiServerSetup(publicCa(), 'prod', { groupsPrefix: 'kg:' }).flags.join('\n') + '\n');
    expect((yaml.loadAll(rbac.stdout) as { subjects: { name: string }[] }[]).map((b) => b.subjects[0]!.name)).toEqual(['kubegate:developers', 'kubegate:SRE on-call', 'kubegate:sre-on-call']);
    expect(fs.readdirSync(dir)).toEqual(['kubegate.yaml']);
    expect(badFormat).toMatchObject({ code: 2, stderr: expect.stringMatching(/--format must be one of text, flags, authentication-config, rbac/) });
    expect(noCluster).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs a cluster name/) });
    expect(unknown).toMatchObject({ code: 1, stderr: 'kubegate: no cluster "nope" in the config (clusters: prod, lab)\n' });
  });
});
