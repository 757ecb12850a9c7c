import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import yaml from 'js-yaml';
import { ConfigError } from './load';

export interface ConfigLocation {
  file: string;
  /** Set only on the start that generated the embedded default: shown once, never stored in clear. */
  generated?: { username: string; password: string };
}

/**
 * Finds the config file: $KUBEGATE_CONFIG, else ./kubegate.yaml, else the
 * embedded default in $KUBEGATE_DATA_DIR (./data), generated on first start
 * with a demo user whose password is returned once for printing, and a
 * key-encryption key beside it (kubegate.key).
 */
export function locateConfig(env: Record<string, string | undefined>, cwd: string): ConfigLocation {
  if (env.KUBEGATE_CONFIG) {
    const file = path.resolve(cwd, env.KUBEGATE_CONFIG);
    if (!fs.existsSync(file)) throw new ConfigError(file, ['KUBEGATE_CONFIG names a file that does not exist']);
    return { file };
  }
  const local = path.resolve(cwd, 'kubegate.yaml');
  if (fs.existsSync(local)) return { file: local };
  const dataDir = path.resolve(cwd, env.KUBEGATE_DATA_DIR ?? 'data');
  const file = path.join(dataDir, 'kubegate.yaml');
  if (fs.existsSync(file)) return { file };
  return { file, generated: writeEmbeddedDefault(file) };
}

/** Set by Kubegate on every start to the http URL it listens on (see localUrl); the embedded default's issuer.url. */
export const LOCAL_URL_VAR = 'KUBEGATE_LOCAL_URL';
/** The key-encryption key file the embedded default writes beside its config. */
export const EMBEDDED_KEK_FILE = 'kubegate.key';

const LOOPBACK_V4 = /^127(\.\d{1,3}){3}$/;

/**
 * Where a browser on this machine reaches Kubegate given PORT and HOST, and
 * why: a loopback HOST is used as is; every other HOST (unset, a wildcard,
 * another address) gives `localhost`, since an http issuer is only accepted
 * on loopback.
 */
export function localUrl(env: Record<string, string | undefined>): { url: string; why: string } {
  const port = env.PORT || '3000';
  const portWhy = env.PORT ? `PORT=${env.PORT}` : 'PORT not set (3000)';
  const host = env.HOST ?? '';
  let name: string;
  let hostWhy: string;
  if (host === '' || host === 'localhost') {
    name = 'localhost';
    hostWhy = host === '' ? 'HOST not set (localhost)' : 'HOST=localhost';
  } else if (LOOPBACK_V4.test(host)) {
    name = host;
    hostWhy = `HOST=${host}`;
  } else if (host === '::1' || host === '[::1]') {
    name = '[::1]';
    hostWhy = `HOST=${host}`;
  } else if (host === '0.0.0.0' || host === '::' || host === '[::]') {
    name = 'localhost';
    hostWhy = `HOST=${host} (every interface; the URL uses localhost)`;
  } else {
    name = 'localhost';
    hostWhy = `HOST=${host} (not loopback, and an http issuer must be: the URL uses localhost; set issuer.url to your https URL)`;
  }
  return { url: `http://${name}:${port}`, why: `${portWhy}, ${hostWhy}` };
}

/**
 * The environment a config is read with: the process's, plus
 * KUBEGATE_LOCAL_URL, always computed from PORT and HOST (never taken from
 * outside). `followsListenAddress()` tells afterwards whether the config
 * used it.
 */
export function configEnvironment(env: Record<string, string | undefined>): {
  env: Record<string, string | undefined>;
  local: { url: string; why: string };
  followsListenAddress: () => boolean;
} {
  const local = localUrl(env);
  let used = false;
  const out: Record<string, string | undefined> = { ...env };
  Object.defineProperty(out, LOCAL_URL_VAR, {
    enumerable: true,
    get: () => {
      used = true;
      return local.url;
    },
  });
  return { env: out, local, followsListenAddress: () => used };
}

/** The start-up line that says which issuer URL is served and where it comes from. */
export function issuerNotice(issuerUrl: string, configFile: string, local: { url: string; why: string }, followsListenAddress: boolean): string {
  if (followsListenAddress && issuerUrl === local.url) {
    return (
      `kubegate: issuer URL ${issuerUrl}: ${configFile} sets issuer.url to \${${LOCAL_URL_VAR}}, which follows where Kubegate listens ` +
      `on every start (${local.why}). Put your https URL there to fix it.`
    );
  }
  return `kubegate: issuer URL ${issuerUrl}: issuer.url in ${configFile}.`;
}

function writeEmbeddedDefault(file: string): { username: string; password: string } {
  const password = randomBytes(18).toString('base64url');
  const config = {
    issuer: { url: `\${${LOCAL_URL_VAR}}`, id_token_lifetime: '60s', refresh_idle_timeout: '15m', session_lifetime: '12h' },
    signing: { algorithm: 'RS256' },
    storage: { sqlite: { path: 'kubegate.db' } },
    secrets: { key_encryption_key_file: EMBEDDED_KEK_FILE },
    upstreams: [{ id: 'local', type: 'local', display_name: 'Local account' }],
    users: [
      {
        username: 'demo',
        name: 'Demo User',
        email: 'demo@example.com',
        password_hash: bcrypt.hashSync(password, 12),
        groups: ['kubegate-demo'],
      },
    ],
    clusters: [
      {
        name: 'demo',
        display_name: 'Demo cluster',
        description: 'An example entry: point server and certificate_authority at a real cluster.',
        server: 'https://127.0.0.1:6443',
        client_id: 'kubernetes',
        default_namespace: 'default',
      },
    ],
  };
  const header =
    '# Kubegate configuration, generated on first start (the embedded default).\n' +
    '# Edit it and restart; see README.md for every setting.\n' +
    `# issuer.url: \${${LOCAL_URL_VAR}} is set by Kubegate on every start to http://localhost:$PORT (or a loopback $HOST);\n` +
    '#   replace it with your public https URL to fix it.\n' +
    `# secrets.key_encryption_key_file: ${EMBEDDED_KEK_FILE} encrypts the signing keys and secrets in kubegate.db.\n` +
    '#   Back it up apart from the database: the database is unreadable without it.\n';
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // An existing key file is kept: a database beside it may be encrypted with it.
  try {
    fs.writeFileSync(path.join(dir, EMBEDDED_KEK_FILE), randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  fs.writeFileSync(file, header + yaml.dump(config, { lineWidth: -1 }), { mode: 0o600, flag: 'wx' });
  return { username: 'demo', password };
}
