import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { ConfigSchema, type ClusterConfig, type Config } from './schema';

/** A cluster whose CA has been read: `ca_pem` is the PEM text, whichever way it was given. */
export type ResolvedCluster = ClusterConfig & { ca_pem?: string };
export type ResolvedConfig = Omit<Config, 'clusters'> & { clusters: ResolvedCluster[] };

/** Every problem found in a config file, each prefixed by the path of the bad field. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** ['clusters', 1, 'server'] → "clusters[1].server" */
export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of p) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(root)';
}

const ENV_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces `${VAR}` in every string value (never in keys, and after YAML
 * parsing, so a variable's value cannot change the document's structure).
 * `$$` stands for a literal `$`.
 */
export function substituteEnv(
  node: unknown,
  env: Record<string, string | undefined>,
  problems: string[],
  at: PropertyKey[] = [],
): unknown {
  if (typeof node === 'string') {
    return node.replace(ENV_REF, (match, name: string | undefined) => {
      if (match === '$$') return '$';
      const value = env[name!];
      if (value === undefined) {
        problems.push(`${formatPath(at)}: environment variable ${name} is not set`);
        return '';
      }
      return value;
    });
  }
  if (Array.isArray(node)) return node.map((item, i) => substituteEnv(item, env, problems, [...at, i]));
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, substituteEnv(v, env, problems, [...at, k])]),
    );
  }
  return node;
}

export interface ParseOptions {
  /** Where the text came from, for messages. */
  source: string;
  env?: Record<string, string | undefined>;
  /** Relative file paths (CA files, SQLite path) are resolved against this directory. */
  baseDir?: string;
  readFile?: (file: string) => string;
}

/** Parses and validates config text. Throws ConfigError listing every problem. */
export function parseConfig(text: string, opts: ParseOptions): ResolvedConfig {
  const { source, env = {}, baseDir = process.cwd(), readFile = (f) => fs.readFileSync(f, 'utf8') } = opts;
  let raw: unknown;
  try {
    raw = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: source });
  } catch (err) {
    throw new ConfigError(source, [`not valid YAML: ${(err as Error).message}`]);
  }
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, ['(root): must be a YAML mapping with at least an "issuer" section']);
  }
  const problems: string[] = [];
  const substituted = substituteEnv(raw, env, problems);
  const result = ConfigSchema.safeParse(substituted);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(source, problems);

  const config = result.data;
  const clusters: ResolvedCluster[] = config.clusters.map((cluster, i) => {
    const ca = cluster.certificate_authority;
    if (!ca) return cluster;
    if (ca.data !== undefined) return { ...cluster, ca_pem: ca.data.trim() + '\n' };
    const file = path.resolve(baseDir, ca.file!);
    try {
      const pem = readFile(file);
      if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) {
        problems.push(`clusters[${i}].certificate_authority.file: ${file} holds no PEM certificate`);
        return cluster;
      }
      return { ...cluster, ca_pem: pem.trim() + '\n' };
    } catch (err) {
      problems.push(`clusters[${i}].certificate_authority.file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return cluster;
    }
  });
  if (problems.length > 0) throw new ConfigError(source, problems);

  const storage = config.storage.sqlite
    ? { sqlite: { ...config.storage.sqlite, path: path.resolve(baseDir, config.storage.sqlite.path) } }
    : config.storage;
  return { ...config, storage, clusters };
}

/** Reads and validates a config file. */
export function loadConfigFile(file: string, env: Record<string, string | undefined> = process.env): ResolvedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseConfig(text, { source: file, env, baseDir: path.dirname(path.resolve(file)) });
}
