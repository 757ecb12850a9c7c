import { exportAuthEnvironment } from './config/auth-env';
import { loadConfigFile } from './config/load';
import { locateConfig, type ConfigLocation } from './config/bootstrap';
import { createRuntime, type Runtime } from './runtime';
import type { Logger } from './util/log';

/**
 * Finds and validates the config (generating the embedded default on first
 * start), then opens the runtime. Every entry (server, admin command, a bare
 * `next dev`) starts here. Throws ConfigError listing every problem.
 */
export async function bootRuntime(opts: { log?: Logger } = {}): Promise<{ rt: Runtime; location: ConfigLocation }> {
  const location = locateConfig(process.env, process.cwd());
  const config = loadConfigFile(location.file);
  exportAuthEnvironment();
  return { rt: await createRuntime(config, opts), location };
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
