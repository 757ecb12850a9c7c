/**
 * The two ways the deployment is rendered in tests: `kubectl kustomize`
 * (real kubectl, offline) and the Helm chart through ./helm-template.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { mergeValues, renderTemplate } from './helm-template';

export const DEPLOY_DIR = path.resolve(import.meta.dirname, '..');
export const KUSTOMIZE_DIR = path.join(DEPLOY_DIR, 'kustomize');
export const CHART_DIR = path.join(DEPLOY_DIR, 'helm', 'kubegate');

/** A Kubernetes object as rendered: plain parsed YAML. */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> } } & Record<string, unknown>;

function parseDocuments(text: string, source: string): K8sObject[] {
  const docs = yaml.loadAll(text, undefined, { filename: source }) as unknown[];
  return docs.filter((d): d is K8sObject => d !== null && d !== undefined);
}

/**
 * `kubectl kustomize` of the base, or of an overlay made in a temp
 * directory that adds the given components (as a user's overlay would).
 */
export function renderKustomize(opts: { components?: string[] } = {}): K8sObject[] {
  let dir = KUSTOMIZE_DIR;
  let tmp: string | undefined;
  if (opts.components?.length) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-overlay-'));
    const rel = (p: string) => path.relative(tmp!, p);
    fs.writeFileSync(
      path.join(tmp, 'kustomization.yaml'),
      yaml.dump({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [rel(KUSTOMIZE_DIR)],
        components: opts.components.map((c) => rel(path.join(KUSTOMIZE_DIR, 'components', c))),
      }),
    );
    dir = tmp;
  }
  try {
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } });
    return parseDocuments(out, 'kubectl kustomize');
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function chartValues(): Record<string, unknown> {
  return yaml.load(fs.readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
}

/** What `helm template RELEASE deploy/helm/kubegate [--set ...]` would print, parsed. */
export function renderChart(opts: { release?: string; namespace?: string; values?: Record<string, unknown> } = {}): K8sObject[] {
  const chart = yaml.load(fs.readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const ctx = {
    Values: mergeValues(chartValues(), opts.values ?? {}),
    Release: { Name: opts.release ?? 'kubegate', Namespace: opts.namespace ?? 'default' },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const dir = path.join(CHART_DIR, 'templates');
  return fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('_'))
    .sort()
    .flatMap((f) => parseDocuments(renderTemplate(fs.readFileSync(path.join(dir, f), 'utf8'), ctx), `templates/${f}`));
}
