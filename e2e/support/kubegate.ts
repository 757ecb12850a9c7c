/**
 * Runs the BUILT Kubegate (`node scripts/start.mjs`) as a child process with
 * a config object written to a temp directory. Never builds: it refuses to
 * start without a production build and says how to make one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import yaml from 'js-yaml';

export const PROJECT_DIR = path.resolve(import.meta.dirname, '..', '..');

export function assertBuilt(): void {
  const missing = ['.next/BUILD_ID', 'dist/server.mjs'].filter((f) => !fs.existsSync(path.join(PROJECT_DIR, f)));
  if (missing.length) {
    throw new Error(`no production build (missing ${missing.join(', ')}): run \`npm run build\` first`);
  }
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface KubegateProcess {
  /** Where the process listens (plain http on loopback). */
  url: string;
  dir: string;
  configPath: string;
  dbPath: string;
  /** Everything the process printed, for assertions (no secret may appear here). */
  output(): string;
  /** SIGKILL: a crash, not a shutdown. */
  kill9(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function waitHealthy(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`kubegate exited with ${child.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kubegate did not become healthy at ${url}:\n${output()}`);
}

export async function startKubegate(opts: { dir: string; port: number; config: Record<string, unknown> }): Promise<KubegateProcess> {
  assertBuilt();
  fs.mkdirSync(opts.dir, { recursive: true });
  const configPath = path.join(opts.dir, 'kubegate.yaml');
  const dbPath = path.join(opts.dir, 'kubegate.db');
  // The key-encryption key for the database's secrets (kept across restart()).
  const keyPath = path.join(opts.dir, 'kubegate.key');
  if (!fs.existsSync(keyPath)) fs.writeFileSync(keyPath, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const config = { storage: { sqlite: { path: dbPath } }, secrets: { key_encryption_key_file: keyPath }, ...opts.config };
  fs.writeFileSync(configPath, yaml.dump(config, { lineWidth: -1 }));
  const url = `http://127.0.0.1:${opts.port}`;
  let log = '';
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(process.execPath, [path.join(PROJECT_DIR, 'scripts/start.mjs')], {
      cwd: opts.dir,
      env: { ...process.env, KUBEGATE_CONFIG: configPath, PORT: String(opts.port), HOST: '127.0.0.1', NEXT_TELEMETRY_DISABLED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitHealthy(url, child, () => log);
  };
  const stop = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  await launch();
  return {
    url,
    dir: opts.dir,
    configPath,
    dbPath,
    output: () => log,
    kill9: () => stop('SIGKILL'),
    restart: async () => {
      await stop('SIGTERM');
      await launch();
    },
    close: () => stop('SIGTERM'),
  };
}
