import { exportAuthEnvironment } from './config/auth-env';
import { loadConfigFile } from './config/load';
import { locateConfig } from './config/bootstrap';
import { createRuntime, type Runtime } from './runtime';

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
  g[KEY] ??= (async () => {
    const location = locateConfig(process.env, process.cwd());
    const config = loadConfigFile(location.file);
    exportAuthEnvironment();
    return createRuntime(config);
  })();
  return g[KEY];
}
