/**
 * Offline checks of rendered objects against the Kubernetes API schema.
 * There is no cluster here, and kubectl's own validation (`apply
 * --dry-run=client`, `create --validate`) downloads the OpenAPI document
 * from a server, so it cannot run offline. Two checks take its place:
 *
 *  1. kubernetes-models' validators, generated from the Kubernetes OpenAPI
 *     schema (and, for ServiceMonitor, from the Prometheus Operator's CRD):
 *     types, required fields, enums and formats;
 *  2. TypeScript's excess-property check against the same package's types
 *     (`satisfies IDeployment`), which finds what the JSON schema lets
 *     through: an unknown or misspelt field anywhere in the object, as
 *     kubectl's strict field validation would.
 */
import path from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './render';

interface ModelRef {
  /** Module to import the model (and its `I<Kind>` type) from. */
  module: string;
  kind: string;
}

const MODELS: Record<string, ModelRef> = {
  'v1/ServiceAccount': { module: 'kubernetes-models/v1', kind: 'ServiceAccount' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1', kind: 'ConfigMap' },
  'v1/Service': { module: 'kubernetes-models/v1', kind: 'Service' },
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1', kind: 'Deployment' },
  'networking.k8s.io/v1/Ingress': { module: 'kubernetes-models/networking.k8s.io/v1', kind: 'Ingress' },
  'policy/v1/PodDisruptionBudget': { module: 'kubernetes-models/policy/v1', kind: 'PodDisruptionBudget' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { module: 'kubernetes-models/rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding' },
  'monitoring.coreos.com/v1/ServiceMonitor': { module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1', kind: 'ServiceMonitor' },
};

function modelFor(obj: K8sObject): ModelRef {
  const ref = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!ref) throw new Error(`no schema known for ${obj.apiVersion} ${obj.kind}: add it to deploy/test-support/schema.ts`);
  return ref;
}

/** Problems the OpenAPI-generated validator finds, as "Kind/name: /path message". */
export async function schemaProblems(objects: K8sObject[]): Promise<string[]> {
  const problems: string[] = [];
  for (const obj of objects) {
    const ref = modelFor(obj);
    const mod = (await import(ref.module)) as Record<string, new (data: unknown) => { validate(): void }>;
    const Model = mod[ref.kind]!;
    try {
      new Model(obj).validate();
    } catch (err) {
      const errors = (err as { errors?: { instancePath: string; message?: string }[] }).errors;
      const where = `${obj.kind}/${obj.metadata?.name}`;
      if (!errors) problems.push(`${where}: ${String(err)}`);
      else for (const e of errors) problems.push(`${where}: ${e.instancePath || '/'} ${e.message ?? ''}`.trim());
    }
  }
  return problems;
}

/** Unknown or wrongly typed fields, found by type-checking each object against kubernetes-models' types. */
export function unknownFieldProblems(objects: K8sObject[]): string[] {
  // A virtual file inside the repository, so the compiler resolves the packages from its node_modules.
  const file = path.resolve(import.meta.dirname, '__manifest-check__.ts');
  const source = objects
    .map((obj, i) => {
      const ref = modelFor(obj);
      return `import type { I${ref.kind} as T${i} } from ${JSON.stringify(ref.module)};\nexport const o${i} = ${JSON.stringify(obj)} satisfies T${i};`;
    })
    .join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].map((d) => {
    const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
    const obj = objects[Math.floor(line / 2)];
    return `${obj ? `${obj.kind}/${obj.metadata?.name}` : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}
