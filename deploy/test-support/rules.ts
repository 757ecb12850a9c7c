/**
 * The rules a Kubegate deployment must keep, checked over rendered objects
 * (kustomize or Helm). Each returns the violations it finds, so a test can
 * show both that the manifests keep a rule and that the rule catches a
 * manifest that breaks it.
 */
import yaml from 'js-yaml';
import { parseDuration } from '../../lib/util/duration';
import type { K8sObject } from './render';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered YAML is walked as plain data; the schema check types it */
type Any = any;

const find = (objects: K8sObject[], kind: string): Any[] => objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string): Any => {
  const found = find(objects, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
};

/** True when every key=value of `selector` is among `labels` (and the selector is not empty). */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/** Environment variables the pod may carry as literal values: none of them is a secret. */
const PLAIN_ENV = new Set(['KUBEGATE_CONFIG', 'HOST', 'PORT', 'NODE_ENV', 'LOG_LEVEL', 'NODE_OPTIONS']);

export const CONFIG_KEY = 'kubegate.yaml';

/** Security of the pod: non-root with a fixed uid, read-only root, nothing escalates, no capability, seccomp. */
export function securityViolations(objects: K8sObject[]): string[] {
  const v: string[] = [];
  const dep = one(objects, 'Deployment');
  const pod = dep.spec.template.spec;
  const psc = pod.securityContext ?? {};
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) v.push('pod shares a host namespace');
  if (pod.automountServiceAccountToken !== false) v.push('pod mounts a service account token it never uses');
  for (const vol of pod.volumes ?? []) if (vol.hostPath) v.push(`volume ${vol.name} is a hostPath`);
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const sc = { ...psc, ...(c.securityContext ?? {}) };
    const at = `container ${c.name}`;
    if (sc.runAsNonRoot !== true) v.push(`${at}: runAsNonRoot is not true`);
    if (!Number.isInteger(sc.runAsUser) || sc.runAsUser === 0) v.push(`${at}: no fixed non-root runAsUser`);
    if (c.securityContext?.readOnlyRootFilesystem !== true) v.push(`${at}: root filesystem is writable`);
    if (c.securityContext?.allowPrivilegeEscalation !== false) v.push(`${at}: allowPrivilegeEscalation is not false`);
    if (c.securityContext?.privileged === true) v.push(`${at}: privileged`);
    const caps = c.securityContext?.capabilities ?? {};
    if (!(caps.drop ?? []).includes('ALL')) v.push(`${at}: capabilities not dropped (drop: [ALL])`);
    if ((caps.add ?? []).length > 0) v.push(`${at}: adds capabilities ${caps.add.join(', ')}`);
    if ((sc.seccompProfile?.type ?? '') !== 'RuntimeDefault') v.push(`${at}: seccompProfile is not RuntimeDefault`);
    // Under a read-only root, only emptyDir mounts may be writable; the config is read-only.
    for (const m of c.volumeMounts ?? []) {
      const vol = (pod.volumes ?? []).find((x: Any) => x.name === m.name);
      if (!vol) v.push(`${at}: mounts ${m.name}, which is no volume`);
      else if (!m.readOnly && !vol.emptyDir) v.push(`${at}: ${m.mountPath} is writable and not an emptyDir`);
      else if (vol.emptyDir && !vol.emptyDir.sizeLimit) v.push(`${at}: emptyDir ${m.name} has no sizeLimit`);
    }
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) v.push(`${at}: resources (cpu and memory requests, memory limit) not set`);
  }
  return v;
}

/** Liveness on /healthz, readiness on /readyz, both on the port the server listens on. */
export function probeViolations(objects: K8sObject[]): string[] {
  const v: string[] = [];
  const c = one(objects, 'Deployment').spec.template.spec.containers.find((x: Any) => x.name === 'kubegate');
  if (!c) return ['no container named kubegate'];
  const listen = Number(c.env?.find((e: Any) => e.name === 'PORT')?.value ?? 3000);
  const portOf = (p: string | number) => (typeof p === 'number' ? p : c.ports?.find((x: Any) => x.name === p)?.containerPort);
  const check = (probe: Any, name: string, path: string) => {
    if (!probe?.httpGet) return v.push(`${name}: missing (want GET ${path})`);
    if (probe.httpGet.path !== path) v.push(`${name}: path ${probe.httpGet.path}, want ${path}`);
    if (portOf(probe.httpGet.port) !== listen) v.push(`${name}: port ${probe.httpGet.port} is not the listening port ${listen}`);
    return undefined;
  };
  check(c.livenessProbe, 'livenessProbe', '/healthz');
  check(c.readinessProbe, 'readinessProbe', '/readyz');
  if (c.startupProbe) check(c.startupProbe, 'startupProbe', '/healthz');
  return v;
}

/**
 * Secrets only by reference: no Secret object with data, every environment
 * variable either a plain setting or a secretKeyRef, and every `${VAR}` the
 * config file uses provided by the pod. The config file names secrets only
 * as `${VAR}`.
 */
export function secretViolations(objects: K8sObject[]): string[] {
  const v: string[] = [];
  for (const s of find(objects, 'Secret')) if (s.data || s.stringData) v.push(`Secret/${s.metadata.name} carries values`);
  const c = one(objects, 'Deployment').spec.template.spec.containers.find((x: Any) => x.name === 'kubegate');
  const provided = new Set<string>();
  for (const e of c.env ?? []) {
    if (e.valueFrom?.secretKeyRef) {
      if (!e.valueFrom.secretKeyRef.name || !e.valueFrom.secretKeyRef.key) v.push(`env ${e.name}: incomplete secretKeyRef`);
      provided.add(e.name);
    } else if ('value' in e) {
      if (!PLAIN_ENV.has(e.name)) v.push(`env ${e.name}: a literal value (use a secretKeyRef)`);
      provided.add(e.name);
    } else v.push(`env ${e.name}: neither a plain setting nor a secretKeyRef`);
  }
  if (!c.env?.some((e: Any) => e.name === 'KUBEGATE_KEY_ENCRYPTION_KEY' && e.valueFrom?.secretKeyRef)) v.push('KUBEGATE_KEY_ENCRYPTION_KEY does not come from a Secret');
  const text = configText(objects);
  for (const [, name] of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) if (!provided.has(name!)) v.push(`config uses \${${name}}, which the pod does not set`);
  const config = yaml.load(text, { schema: yaml.CORE_SCHEMA }) as Any;
  // Client secrets, bind passwords, tokens; and the database URL, which carries the database password.
  const secretish = (key: string, at: string) => /(^|_)(secret|password|token)$/i.test(key) || at === 'storage.postgres.url';
  const walk = (node: Any, at: string) => {
    if (Array.isArray(node)) node.forEach((x, i) => walk(x, `${at}[${i}]`));
    else if (node && typeof node === 'object') {
      for (const [k, val] of Object.entries(node)) {
        const here = at ? `${at}.${k}` : k;
        if (typeof val === 'string' && secretish(k, here) && !/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(val)) v.push(`config ${here}: a literal secret (use \${VAR})`);
        walk(val, here);
      }
    }
  };
  walk(config, '');
  if (/PRIVATE KEY-----/.test(text)) v.push('config holds a private key');
  return v;
}

/** The Kubegate config file the ConfigMap carries. */
export function configText(objects: K8sObject[]): string {
  const dep = one(objects, 'Deployment');
  const vol = dep.spec.template.spec.volumes.find((x: Any) => x.configMap);
  const cm = find(objects, 'ConfigMap').find((x) => x.metadata.name === vol?.configMap.name);
  const text = cm?.data?.[CONFIG_KEY];
  if (typeof text !== 'string') throw new Error(`no ConfigMap with ${CONFIG_KEY} is mounted`);
  return text;
}

/** Objects that point at each other agree: selectors, ports, names. */
export function wiringViolations(objects: K8sObject[]): string[] {
  const v: string[] = [];
  const dep = one(objects, 'Deployment');
  const podLabels = dep.spec.template.metadata.labels;
  const pod = dep.spec.template.spec;
  const container = pod.containers.find((x: Any) => x.name === 'kubegate');
  if (!selects(dep.spec.selector.matchLabels, podLabels)) v.push("Deployment's selector does not match its pod labels");
  if (!(dep.spec.replicas >= 2)) v.push(`Deployment has ${dep.spec.replicas} replicas; want at least 2`);
  for (const t of pod.topologySpreadConstraints ?? []) if (!selects(t.labelSelector?.matchLabels, podLabels)) v.push('topologySpreadConstraint selects other pods');

  const sa = pod.serviceAccountName;
  if (sa && !find(objects, 'ServiceAccount').some((x) => x.metadata.name === sa)) v.push(`serviceAccountName ${sa} is not rendered`);
  for (const vol of pod.volumes ?? []) {
    if (vol.configMap && !find(objects, 'ConfigMap').some((x) => x.metadata.name === vol.configMap.name)) v.push(`volume ${vol.name}: ConfigMap ${vol.configMap.name} is not rendered`);
  }

  const svc = one(objects, 'Service');
  if (!selects(svc.spec.selector, podLabels)) v.push("Service's selector does not match the pod labels");
  for (const p of svc.spec.ports) {
    const target = p.targetPort ?? p.port;
    const ok = typeof target === 'number' ? container.ports.some((x: Any) => x.containerPort === target) : container.ports.some((x: Any) => x.name === target);
    if (!ok) v.push(`Service port ${p.name}: targetPort ${target} is no container port`);
  }

  const pdb = one(objects, 'PodDisruptionBudget');
  if (!selects(pdb.spec.selector?.matchLabels, podLabels)) v.push("PodDisruptionBudget's selector does not match the pod labels");
  const maxUnavailable = pdb.spec.maxUnavailable;
  const minAvailable = pdb.spec.minAvailable;
  if (maxUnavailable === undefined && minAvailable === undefined) v.push('PodDisruptionBudget sets neither maxUnavailable nor minAvailable');
  if (maxUnavailable === 0 || (typeof minAvailable === 'number' && minAvailable >= dep.spec.replicas)) v.push('PodDisruptionBudget never lets a node drain');

  const ing = one(objects, 'Ingress');
  const issuerHost = new URL((yaml.load(configText(objects), { schema: yaml.CORE_SCHEMA }) as Any).issuer.url).host;
  const tlsHosts = (ing.spec.tls ?? []).flatMap((t: Any) => t.hosts ?? []);
  for (const rule of ing.spec.rules) {
    if (rule.host !== issuerHost) v.push(`Ingress host ${rule.host} is not issuer.url's host ${issuerHost}`);
    if (!tlsHosts.includes(rule.host)) v.push(`Ingress host ${rule.host} has no TLS`);
    for (const p of rule.http?.paths ?? []) {
      const b = p.backend.service;
      if (b.name !== svc.metadata.name) v.push(`Ingress backend ${b.name} is not the Service ${svc.metadata.name}`);
      const ok = b.port.name !== undefined ? svc.spec.ports.some((x: Any) => x.name === b.port.name) : svc.spec.ports.some((x: Any) => x.port === b.port.number);
      if (!ok) v.push(`Ingress backend port ${b.port.name ?? b.port.number} is no port of the Service`);
    }
  }

  // The container port a Service port (by name) ends at.
  const containerPortOf = (servicePort: Any): number | undefined => {
    const target = servicePort?.targetPort ?? servicePort?.port;
    return typeof target === 'number' ? target : container.ports.find((x: Any) => x.name === target)?.containerPort;
  };
  const metricsPort: number | undefined = (yaml.load(configText(objects), { schema: yaml.CORE_SCHEMA }) as Any).metrics?.port;
  for (const p of ing.spec.rules.flatMap((r: Any) => r.http?.paths ?? [])) {
    const sp = svc.spec.ports.find((x: Any) => (p.backend.service.port.name !== undefined ? x.name === p.backend.service.port.name : x.port === p.backend.service.port.number));
    if (metricsPort !== undefined && containerPortOf(sp) === metricsPort) v.push(`Ingress backend port ${sp.name} is the metrics listener`);
  }
  for (const sm of find(objects, 'ServiceMonitor')) {
    if (!selects(sm.spec.selector?.matchLabels, svc.metadata.labels)) v.push("ServiceMonitor's selector does not match the Service's labels");
    for (const e of sm.spec.endpoints) {
      const sp = svc.spec.ports.find((x: Any) => x.name === e.port);
      if (!sp) v.push(`ServiceMonitor endpoint port ${e.port} is no port of the Service`);
      else if (metricsPort === undefined) v.push('ServiceMonitor scrapes, but the config has no metrics listener (metrics.port)');
      else if (containerPortOf(sp) !== metricsPort) v.push(`ServiceMonitor endpoint port ${e.port} does not reach metrics.port ${metricsPort}`);
      if ((e.path ?? '/metrics') !== '/metrics') v.push(`ServiceMonitor endpoint path ${e.path} is not /metrics`);
    }
  }
  return v;
}

/** Kubegate's `server.shutdown_grace` when the config does not set it (lib/config/schema.ts). */
const DEFAULT_SHUTDOWN_GRACE = 10;
/** What the kubelet's SIGKILL must leave after the preStop pause and Kubegate's own grace: the store's close and the last audit rows. */
const SHUTDOWN_MARGIN = 5;

/**
 * A rolling update or a drain ends no refresh halfway: a preStop pause lets
 * every proxy drop the endpoint first, then SIGTERM gives requests in flight
 * `server.shutdown_grace`, and the pod's termination grace covers both with a
 * margin, or the kubelet's SIGKILL cuts them.
 */
export function shutdownViolations(objects: K8sObject[]): string[] {
  const v: string[] = [];
  const pod = one(objects, 'Deployment').spec.template.spec;
  const container = pod.containers.find((x: Any) => x.name === 'kubegate');
  const pause = container?.lifecycle?.preStop?.sleep?.seconds;
  if (!(Number.isInteger(pause) && pause > 0)) v.push('no preStop sleep: proxies still send requests to a pod that stopped listening');
  const configured = (yaml.load(configText(objects)) as Any)?.server?.shutdown_grace;
  const grace = configured === undefined ? DEFAULT_SHUTDOWN_GRACE : parseDuration(configured);
  if (grace === undefined) return [...v, `config server.shutdown_grace ${String(configured)} is not a duration`];
  const total = pod.terminationGracePeriodSeconds ?? 30;
  const need = (Number.isInteger(pause) ? pause : 0) + grace + SHUTDOWN_MARGIN;
  if (total < need) v.push(`terminationGracePeriodSeconds ${total} is less than preStop ${pause ?? 0}s + shutdown_grace ${grace}s + ${SHUTDOWN_MARGIN}s`);
  return v;
}

export const allViolations = (objects: K8sObject[]) => [
  ...securityViolations(objects),
  ...probeViolations(objects),
  ...secretViolations(objects),
  ...wiringViolations(objects),
  ...shutdownViolations(objects),
];
