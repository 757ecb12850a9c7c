import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { AppError } from '../util/errors';
import { PRIVATE_KEY_RE } from './fields';
import { ConfigSchema, type ClusterConfig, type Config } from './schema';

/** A cluster whose CA has been read: `ca_pem` is the PEM text, whichever way it was given. */
export type ResolvedCluster = ClusterConfig & { ca_pem?: string };
export type ResolvedConfig = Omit<Config, 'clusters' | 'issuer'> & {
  clusters: ResolvedCluster[];
  issuer: Config['issuer'] & { ca_pem?: string };
};
type CaSource = { data?: string; file?: string };

/** Every problem found in a config file, each prefixed by the path of the bad field. */
export class ConfigError extends AppError {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super('invalid_config', `invalid configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
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
    // A field whose variable is missing was already reported; its empty value would only add noise.
    const unset = new Set(problems.map((p) => p.slice(0, p.indexOf(': '))));
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        // Name each unknown key at its own path (`issuer.foo`), so a typo is found by its name.
        for (const key of issue.keys) problems.push(`${formatPath([...issue.path, key])}: unknown key`);
      } else if (!unset.has(formatPath(issue.path))) problems.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  // CA files are read whatever the schema said, so one run reports an unreadable file together with
  // every field error. The shape is read defensively: it has not necessarily passed the schema.
  const readCa = (ca: unknown, at: string): string | undefined => {
    if (ca === null || typeof ca !== 'object') return undefined;
    const { data, file } = ca as CaSource;
    if (data !== undefined) return typeof data === 'string' ? data.trim() + '\n' : undefined;
    if (typeof file !== 'string' || file === '') return undefined;
    const resolved = path.resolve(baseDir, file);
    try {
      const pem = readFile(resolved);
      if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) {
        problems.push(`${at}.file: ${resolved} holds no PEM certificate`);
        return undefined;
      }
      // ca_pem goes into every user's kubeconfig: a bundle with a key in it must never get there.
      if (PRIVATE_KEY_RE.test(pem)) {
        problems.push(`${at}.file: ${resolved} holds a private key; give only the CA certificate`);
        return undefined;
      }
      return pem.trim() + '\n';
    } catch (err) {
      problems.push(`${at}.file: cannot read ${resolved}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return undefined;
    }
  };
  const input = substituted as { issuer?: { certificate_authority?: unknown }; clusters?: unknown };
  const clusterCas = (Array.isArray(input.clusters) ? input.clusters : []).map((c: unknown, i) =>
    readCa(c !== null && typeof c === 'object' ? (c as { certificate_authority?: unknown }).certificate_authority : undefined, `clusters[${i}].certificate_authority`),
  );
  const issuerCa = readCa(input.issuer !== null && typeof input.issuer === 'object' ? input.issuer.certificate_authority : undefined, 'issuer.certificate_authority');
  if (problems.length > 0 || !result.success) throw new ConfigError(source, problems);

  const config = result.data;
  const clusters: ResolvedCluster[] = config.clusters.map((cluster, i) => {
    const ca_pem = cluster.certificate_authority ? clusterCas[i] : undefined;
    return ca_pem === undefined ? cluster : { ...cluster, ca_pem };
  });
  const issuer = issuerCa === undefined || !config.issuer.certificate_authority ? config.issuer : { ...config.issuer, ca_pem: issuerCa };

  const sqlite = config.storage.sqlite;
  const storage = sqlite
    ? {
        sqlite: {
          ...sqlite,
          path: path.resolve(baseDir, sqlite.path),
          ...(sqlite.watermark_file === undefined ? {} : { watermark_file: path.resolve(baseDir, sqlite.watermark_file) }),
        },
      }
    : withPostgresCa(config.storage, baseDir);
  const kekFile = config.secrets.key_encryption_key_file;
  const secrets = kekFile === undefined ? config.secrets : { key_encryption_key_file: path.resolve(baseDir, kekFile) };
  const tls = config.server.tls;
  const server = tls
    ? { ...config.server, tls: { ...tls, cert_file: path.resolve(baseDir, tls.cert_file), key_file: path.resolve(baseDir, tls.key_file) } }
    : config.server;
  return { ...config, issuer, storage, clusters, secrets, server };
}

/** The PostgreSQL CA file, relative to the config file's directory. */
function withPostgresCa<S extends { postgres?: { ssl?: { ca_file?: string } } }>(storage: S, baseDir: string): S {
  const ssl = storage.postgres?.ssl;
  if (!storage.postgres || ssl?.ca_file === undefined) return storage;
  return { ...storage, postgres: { ...storage.postgres, ssl: { ...ssl, ca_file: path.resolve(baseDir, ssl.ca_file) } } };
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
