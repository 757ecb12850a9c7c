import { exportAuthEnvironment } from './config/auth-env';
import { loadConfigFile } from './config/load';
import { configEnvironment, issuerNotice, locateConfig, type ConfigLocation } from './config/bootstrap';
import { loadKek } from './crypto/kek';
import { createRuntime, type Runtime } from './runtime';
import type { Logger } from './util/log';

/**
 * Finds and validates the config (generating the embedded default on first
 * start), finds the key-encryption key, then opens the runtime. Every entry
 * (server, admin command, a bare `next dev`) starts here. Throws ConfigError
 * listing every problem (a KekError when the key is missing or wrong).
 * `issuerNotice` says which issuer URL is served and why (for stderr).
 */
export async function bootRuntime(opts: { log?: Logger; printAudit?: boolean } = {}): Promise<{ rt: Runtime; location: ConfigLocation; issuerNotice: string }> {
  const location = locateConfig(process.env, process.cwd());
  const configEnv = configEnvironment(process.env);
  const config = loadConfigFile(location.file, configEnv.env);
  exportAuthEnvironment();
  const { kek, warning } = await loadKek({ env: process.env, file: config.secrets.key_encryption_key_file, configFile: location.file });
  const rt = await createRuntime(config, { ...opts, kek });
  if (warning) rt.log.warn('key-encryption key file is readable by others', { problem: warning });
  return { rt, location, issuerNotice: issuerNotice(config.issuer.url, location.file, configEnv.local, configEnv.followsListenAddress()) };
}

/**
 * One Runtime per process, shared by the server entry (issuer endpoints) and
 * the Next.js bundles (portal), which load their own copies of lib/: the
 * global symbol registry is the one thing both see.
 */
const KEY = Symbol.for('kubegate.runtime');
type Holder = { [KEY]?: Promise<Runtime> };

export function setRuntime(rt: Runtime): void {
  (globalThis as Holder)[KEY] = Promise.resolve(rt);
}

export function getRuntime(): Promise<Runtime> {
  const g = globalThis as Holder;
  g[KEY] ??= bootRuntime().then(({ rt }) => rt);
  return g[KEY];
}
