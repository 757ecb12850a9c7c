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
 * with a demo user whose password is returned once for printing.
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
  return { file, generated: writeEmbeddedDefault(file, env) };
}

function writeEmbeddedDefault(file: string, env: Record<string, string | undefined>): { username: string; password: string } {
  const port = env.PORT ?? '3000';
  const password = randomBytes(18).toString('base64url');
  const config = {
    issuer: { url: `http://localhost:${port}`, id_token_lifetime: '60s', refresh_idle_timeout: '15m', session_lifetime: '12h' },
    signing: { algorithm: 'RS256' },
    storage: { sqlite: { path: 'kubegate.db' } },
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
    '# Edit it and restart; see README.md for every setting.\n';
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, header + yaml.dump(config, { lineWidth: -1 }), { mode: 0o600, flag: 'wx' });
  return { username: 'demo', password };
}
