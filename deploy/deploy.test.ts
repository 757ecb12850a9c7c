/**
 * The deployment manifests: the kustomize base rendered by real kubectl
 * (offline), the Helm chart rendered by deploy/test-support/helm-template.ts,
 * both checked against the Kubernetes API schema (offline: see
 * test-support/schema.ts) and the rules in test-support/rules.ts, and
 * checked to be the same objects.
 */
import { isDeepStrictEqual } from 'node:util';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';
import { renderChart, renderKustomize, type K8sObject } from './test-support/render';
import { allViolations, configText, probeViolations, secretViolations, securityViolations, shutdownViolations, wiringViolations } from './test-support/rules';
import { schemaProblems, unknownFieldProblems } from './test-support/schema';

/* eslint-disable @typescript-eslint/no-explicit-any -- mutating rendered YAML to show each check bites */
type Any = any;

const byName = (objects: K8sObject[]) => Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
const names = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
const deployment = (objects: K8sObject[]): Any => objects.find((o) => o.kind === 'Deployment');
const container = (objects: K8sObject[]): Any => deployment(objects).spec.template.spec.containers[0];
/** A deep copy with one change, to show a check notices it. */
const broken = (objects: K8sObject[], change: (o: Any[]) => void): K8sObject[] => {
  const copy = structuredClone(objects);
  change(copy);
  return copy;
};

let base: K8sObject[];
let withMonitor: K8sObject[];
beforeAll(() => {
  base = renderKustomize();
  withMonitor = renderKustomize({ components: ['servicemonitor'] });
});

const BASE_OBJECTS = [
  'ConfigMap/kubegate-config',
  'Deployment/kubegate',
  'Ingress/kubegate',
  'PodDisruptionBudget/kubegate',
  'Service/kubegate',
  'ServiceAccount/kubegate',
];

describe('kustomize base (kubectl kustomize deploy/kustomize)', () => {
  it('renders the Deployment, Service, Ingress, ConfigMap, PodDisruptionBudget and ServiceAccount; the ServiceMonitor only with its component', () => {
    expect(names(base)).toEqual(BASE_OBJECTS);
    expect(names(withMonitor)).toEqual([...BASE_OBJECTS, 'ServiceMonitor/kubegate'].sort());
  });

  it('passes the Kubernetes API schema: types, required fields, enums, and no unknown field', async () => {
    expect(await schemaProblems(withMonitor)).toEqual([]);
    expect(unknownFieldProblems(withMonitor)).toEqual([]);
  });

  it('the schema checks catch a wrong type, a missing required field and a misspelt field', async () => {
    const bad = broken(base, (o) => {
      const d = deployment(o);
      d.spec.replicas = 'two';
      delete d.spec.template.spec.containers[0].name;
      d.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    });
    const problems = await schemaProblems(bad);
    expect(problems).toContain('Deployment/kubegate: /spec/replicas must be integer');
    expect(problems).toContain('Deployment/kubegate: /spec/template/spec/containers/0 must have required property name');
    const misspelt = broken(base, (o) => {
      deployment(o).spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
      o.find((x) => x.kind === 'Ingress').spec.rules[0].http.paths[0].pathtype = 'Prefix';
    });
    expect(unknownFieldProblems(misspelt)).toEqual([
      expect.stringMatching(/^Deployment\/kubegate: .*'"readOnlyRootFileSystem"' does not exist in type 'ISecurityContext'/),
      expect.stringMatching(/^Ingress\/kubegate: .*'"pathtype"' does not exist in type 'IHTTPIngressPath'/),
    ]);
  });

  it('keeps every rule: non-root, read-only root, no escalation, no capabilities, probes, secrets by reference, matching selectors and ports', () => {
    expect(allViolations(withMonitor)).toEqual([]);
  });

  it('runs as a fixed non-root uid with a read-only root filesystem; only emptyDirs are writable', () => {
    const c = container(base);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const writable = c.volumeMounts.filter((m: Any) => !m.readOnly).map((m: Any) => m.mountPath);
    expect(writable).toEqual(['/tmp', '/app/.next/cache']);
  });

  it.each<[string, (o: Any[]) => void, RegExp]>([
    ['root user', (o) => (deployment(o).spec.template.spec.containers[0].securityContext.runAsUser = 0), /no fixed non-root runAsUser/],
    ['runAsNonRoot off', (o) => (deployment(o).spec.template.spec.containers[0].securityContext.runAsNonRoot = false), /runAsNonRoot is not true/],
    ['writable root', (o) => delete deployment(o).spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem, /root filesystem is writable/],
    ['privilege escalation', (o) => (deployment(o).spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true), /allowPrivilegeEscalation/],
    ['capabilities kept', (o) => (deployment(o).spec.template.spec.containers[0].securityContext.capabilities = { drop: ['NET_RAW'] }), /drop: \[ALL\]/],
    ['capability added', (o) => (deployment(o).spec.template.spec.containers[0].securityContext.capabilities.add = ['NET_ADMIN']), /adds capabilities NET_ADMIN/],
    ['no seccomp', (o) => {
      delete deployment(o).spec.template.spec.securityContext.seccompProfile;
      delete deployment(o).spec.template.spec.containers[0].securityContext.seccompProfile;
    }, /seccompProfile/],
    ['writable config', (o) => (deployment(o).spec.template.spec.containers[0].volumeMounts[0].readOnly = false), /\/etc\/kubegate is writable/],
    ['hostPath', (o) => (deployment(o).spec.template.spec.volumes[1] = { name: 'tmp', hostPath: { path: '/tmp' } }), /hostPath/],
  ])('the security rules catch: %s', (_name, change, message) => {
    expect(securityViolations(broken(base, change))).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  it('probes: liveness GET /healthz, readiness GET /readyz, on the port the server listens on', () => {
    const c = container(base);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 3000, protocol: 'TCP' },
      // The metrics listener (config metrics.port), scraped by the ServiceMonitor, never behind the Ingress.
      { name: 'metrics', containerPort: 9464, protocol: 'TCP' },
    ]);
    expect(c.env.find((e: Any) => e.name === 'PORT').value).toBe('3000');
    expect(probeViolations(broken(base, (o) => (deployment(o).spec.template.spec.containers[0].readinessProbe.httpGet.path = '/healthz')))).toEqual([
      'readinessProbe: path /healthz, want /readyz',
    ]);
    expect(probeViolations(broken(base, (o) => (deployment(o).spec.template.spec.containers[0].env.find((e: Any) => e.name === 'PORT').value = '8080')))).toEqual([
      'livenessProbe: port http is not the listening port 8080',
      'readinessProbe: port http is not the listening port 8080',
      'startupProbe: port http is not the listening port 8080',
    ]);
  });

  it('secrets only by reference: the key-encryption key, the database URL and client secrets come from a Secret the operator creates', () => {
    expect(base.some((o) => o.kind === 'Secret')).toBe(false);
    const env = Object.fromEntries(container(base).env.map((e: Any) => [e.name, e.valueFrom?.secretKeyRef ?? e.value]));
    expect(env).toEqual({
      KUBEGATE_CONFIG: '/etc/kubegate/kubegate.yaml',
      HOST: '0.0.0.0',
      PORT: '3000',
      KUBEGATE_KEY_ENCRYPTION_KEY: { name: 'kubegate', key: 'key-encryption-key' },
      KUBEGATE_POSTGRES_URL: { name: 'kubegate', key: 'postgres-url' },
      CORP_CLIENT_SECRET: { name: 'kubegate', key: 'corp-client-secret' },
    });
    const literalKek = broken(base, (o) => {
      const e = deployment(o).spec.template.spec.containers[0].env.find((x: Any) => x.name === 'KUBEGATE_KEY_ENCRYPTION_KEY');
      delete e.valueFrom;
      e.value = 'c2VjcmV0';
    });
    expect(secretViolations(literalKek)).toEqual([
      'env KUBEGATE_KEY_ENCRYPTION_KEY: a literal value (use a secretKeyRef)',
      'KUBEGATE_KEY_ENCRYPTION_KEY does not come from a Secret',
    ]);
    const literalInConfig = broken(base, (o) => {
      const cm = o.find((x) => x.kind === 'ConfigMap');
      cm.data['kubegate.yaml'] = cm.data['kubegate.yaml'].replace('${CORP_CLIENT_SECRET}', 'hunter2').replace('${KUBEGATE_POSTGRES_URL}', 'postgres://kubegate:pw@db/kubegate');
    });
    expect(secretViolations(literalInConfig)).toEqual([
      'config storage.postgres.url: a literal secret (use ${VAR})',
      'config upstreams[0].client_secret: a literal secret (use ${VAR})',
    ]);
    const unset = broken(base, (o) => {
      const c = deployment(o).spec.template.spec.containers[0];
      c.env = c.env.filter((x: Any) => x.name !== 'CORP_CLIENT_SECRET');
    });
    expect(secretViolations(unset)).toEqual(['config uses ${CORP_CLIENT_SECRET}, which the pod does not set']);
    expect(secretViolations([...base, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kubegate' }, data: { x: 'eQ==' } }])).toEqual(['Secret/kubegate carries values']);
  });

  it('the config file is valid Kubegate config, on PostgreSQL (several replicas cannot share SQLite)', () => {
    const text = configText(base);
    const env = { KUBEGATE_POSTGRES_URL: 'postgres://kubegate:pw@db:5432/kubegate', CORP_CLIENT_SECRET: 'x' };
    let problems: string[] = [];
    try {
      const config = parseConfig(text, { source: 'ConfigMap kubegate-config', env });
      expect(config.storage).toEqual({ postgres: { url: env.KUBEGATE_POSTGRES_URL, pool_size: 10, connect_timeout: 5, statement_timeout: 5 } });
    } catch (err) {
      problems = (err as { problems?: string[] }).problems ?? [String(err)];
    }
    expect(problems).toEqual([]);
    expect((yaml.load(text) as Any).storage.sqlite).toBeUndefined();
    expect(deployment(base).spec.replicas).toBe(2);
  });

  it('shutdown: a preStop pause, then shutdown_grace, both inside the termination grace, so a rollout cuts no refresh', () => {
    expect(shutdownViolations(base)).toEqual([]);
    const setGrace = (o: Any[], grace: string) => {
      const cm = o.find((x) => x.kind === 'ConfigMap');
      cm.data['kubegate.yaml'] = cm.data['kubegate.yaml'].replace('\nserver:\n', `\nserver:\n  shutdown_grace: ${grace}\n`);
    };
    const cases: [string, (o: Any[]) => void, string[]][] = [
      ['no preStop', (o) => delete deployment(o).spec.template.spec.containers[0].lifecycle, ['no preStop sleep: proxies still send requests to a pod that stopped listening']],
      ['grace too short', (o) => (deployment(o).spec.template.spec.terminationGracePeriodSeconds = 15), ['terminationGracePeriodSeconds 15 is less than preStop 5s + shutdown_grace 10s + 5s']],
      ['a longer shutdown_grace in the config', (o) => setGrace(o, '30s'), ['terminationGracePeriodSeconds 30 is less than preStop 5s + shutdown_grace 30s + 5s']],
      ['the default grace (30 s) with a long shutdown_grace', (o) => {
        delete deployment(o).spec.template.spec.terminationGracePeriodSeconds;
        setGrace(o, '1m');
      }, ['terminationGracePeriodSeconds 30 is less than preStop 5s + shutdown_grace 60s + 5s']],
    ];
    for (const [name, change, messages] of cases) expect(shutdownViolations(broken(base, change)), name).toEqual(messages);
  });

  it('wiring: selectors select the pods, the Ingress serves issuer.url over TLS through the Service port, the PDB lets a node drain', () => {
    const objects = byName(withMonitor) as Record<string, Any>;
    expect(objects['Service/kubegate'].spec.selector).toEqual(objects['Deployment/kubegate'].spec.selector.matchLabels);
    expect(objects['PodDisruptionBudget/kubegate'].spec.selector.matchLabels).toEqual(objects['Deployment/kubegate'].spec.template.metadata.labels);
    expect(objects['Ingress/kubegate'].spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'kubegate', port: { name: 'http' } });
    expect(objects['Ingress/kubegate'].spec.tls).toEqual([{ hosts: ['kubegate.example.com'], secretName: 'kubegate-tls' }]);

    const cases: [string, (o: Any[]) => void, string][] = [
      ['Service selector', (o) => (o.find((x) => x.kind === 'Service').spec.selector['app.kubernetes.io/instance'] = 'other'), "Service's selector does not match the pod labels"],
      ['PDB selector', (o) => (o.find((x) => x.kind === 'PodDisruptionBudget').spec.selector.matchLabels = { app: 'kubegate' }), "PodDisruptionBudget's selector does not match the pod labels"],
      ['PDB blocks drains', (o) => (o.find((x) => x.kind === 'PodDisruptionBudget').spec = { minAvailable: 2, selector: deployment(o).spec.selector }), 'PodDisruptionBudget never lets a node drain'],
      ['Ingress backend port', (o) => (o.find((x) => x.kind === 'Ingress').spec.rules[0].http.paths[0].backend.service.port = { name: 'https' }), 'Ingress backend port https is no port of the Service'],
      ['Ingress backend name', (o) => (o.find((x) => x.kind === 'Ingress').spec.rules[0].http.paths[0].backend.service.name = 'kubegate-web'), 'Ingress backend kubegate-web is not the Service kubegate'],
      ['Ingress host', (o) => {
        const ing = o.find((x) => x.kind === 'Ingress');
        ing.spec.rules[0].host = 'login.example.com';
        ing.spec.tls[0].hosts = ['login.example.com'];
      }, "Ingress host login.example.com is not issuer.url's host kubegate.example.com"],
      ['Ingress without TLS', (o) => delete o.find((x) => x.kind === 'Ingress').spec.tls, 'Ingress host kubegate.example.com has no TLS'],
      ['Service targetPort', (o) => (o.find((x) => x.kind === 'Service').spec.ports[0].targetPort = 8080), 'Service port http: targetPort 8080 is no container port'],
      ['one replica', (o) => (deployment(o).spec.replicas = 1), 'Deployment has 1 replicas; want at least 2'],
      ['ServiceMonitor port', (o) => (o.find((x) => x.kind === 'ServiceMonitor').spec.endpoints[0].port = 'prometheus'), 'ServiceMonitor endpoint port prometheus is no port of the Service'],
      ['ServiceMonitor on the public port', (o) => (o.find((x) => x.kind === 'ServiceMonitor').spec.endpoints[0].port = 'http'), 'ServiceMonitor endpoint port http does not reach metrics.port 9464'],
      ['ServiceMonitor path', (o) => (o.find((x) => x.kind === 'ServiceMonitor').spec.endpoints[0].path = '/api/metrics'), 'ServiceMonitor endpoint path /api/metrics is not /metrics'],
      ['Ingress to the metrics port', (o) => (o.find((x) => x.kind === 'Ingress').spec.rules[0].http.paths[0].backend.service.port = { name: 'metrics' }), 'Ingress backend port metrics is the metrics listener'],
      ['config without metrics', (o) => {
        const cm = o.find((x) => x.kind === 'ConfigMap');
        cm.data['kubegate.yaml'] = cm.data['kubegate.yaml'].replace(/\n# Prometheus[^\n]*\nmetrics:\n {2}port: 9464\n/, '\n');
      }, 'ServiceMonitor scrapes, but the config has no metrics listener (metrics.port)'],
    ];
    for (const [name, change, message] of cases) expect(wiringViolations(broken(withMonitor, change)), name).toEqual([message]);
  });
});

describe('Helm chart (deploy/helm/kubegate)', () => {
  it('renders the same objects as the kustomize base, with and without the ServiceMonitor', () => {
    const chart = renderChart();
    expect(names(chart)).toEqual(names(base));
    for (const [key, obj] of Object.entries(byName(base))) expect(byName(chart)[key], key).toEqual(obj);
    const monitored = renderChart({ values: { metrics: { serviceMonitor: { enabled: true } } } });
    expect(isDeepStrictEqual(byName(monitored), byName(withMonitor))).toBe(true);
  });

  it('with other values (release name, replicas, host, secrets) still passes the schema and every rule', async () => {
    const objects = renderChart({
      release: 'auth',
      values: {
        replicas: 3,
        host: 'login.corp.example',
        image: { repository: 'registry.example.com/kubegate', tag: '0.2.0' },
        secret: { name: 'auth-secrets' },
        secretEnv: [
          { name: 'CORP_CLIENT_SECRET', key: 'corp' },
          { name: 'PROD_CLIENT_SECRET', key: 'prod' },
        ],
        config: configText(base).replace('https://kubegate.example.com', 'https://login.corp.example'),
        metrics: { serviceMonitor: { enabled: true, interval: '15s' } },
      },
    });
    expect(await schemaProblems(objects)).toEqual([]);
    expect(unknownFieldProblems(objects)).toEqual([]);
    expect(allViolations(objects)).toEqual([]);
    expect(names(objects)).toEqual(['ConfigMap/auth-config', 'Deployment/auth', 'Ingress/auth', 'PodDisruptionBudget/auth', 'Service/auth', 'ServiceAccount/auth', 'ServiceMonitor/auth']);
    const c = container(objects);
    expect(deployment(objects).spec.replicas).toBe(3);
    expect(c.image).toBe('registry.example.com/kubegate:0.2.0');
    expect(c.env.filter((e: Any) => e.valueFrom).map((e: Any) => [e.name, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key])).toEqual([
      ['KUBEGATE_KEY_ENCRYPTION_KEY', 'auth-secrets', 'key-encryption-key'],
      ['KUBEGATE_POSTGRES_URL', 'auth-secrets', 'postgres-url'],
      ['CORP_CLIENT_SECRET', 'auth-secrets', 'corp'],
      ['PROD_CLIENT_SECRET', 'auth-secrets', 'prod'],
    ]);
    expect((objects.find((o) => o.kind === 'ServiceMonitor') as Any).spec.endpoints[0].interval).toBe('15s');
  });

  it('a host that does not match issuer.url in the config is caught', () => {
    expect(wiringViolations(renderChart({ values: { host: 'login.corp.example' } }))).toEqual([
      "Ingress host login.corp.example is not issuer.url's host kubegate.example.com",
    ]);
  });
});
