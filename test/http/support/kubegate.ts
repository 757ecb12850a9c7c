/**
 * Starts the BUILT Kubegate server (`node scripts/start.mjs`) on loopback
 * with a config in a temp directory, for the HTTP-level suite and the bench.
 * Never builds: it refuses to run without `.next/BUILD_ID` and
 * `dist/server.mjs` and says how to make them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

export const PROJECT_DIR = path.resolve(import.meta.dirname, '..', '..', '..');

export class NoBuildError extends Error {
  constructor(missing: string[], dir = PROJECT_DIR) {
    super(
      `no production build in ${dir} (missing ${missing.join(', ')}). ` +
        'Run `npm run build` first; the HTTP suite and the bench run the built server and never build it themselves.',
    );
    this.name = 'NoBuildError';
  }
}

/** Throws NoBuildError unless both halves of the production build are present. */
export function assertBuilt(dir = PROJECT_DIR): void {
  const missing = ['.next/BUILD_ID', 'dist/server.mjs'].filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length) throw new NoBuildError(missing, dir);
}

import { freePort } from '../../../e2e/support/kubegate';

export { freePort };

export interface KubegateSetup {
  alg?: 'RS256' | 'ES256';
  synchronous?: 'full' | 'normal';
  /** Seconds. */
  idTokenLifetime?: number;
  /** Seconds. */
  reuseGrace?: number;
  /** Seconds a new signing key is published before it signs (signing.publish_ahead). */
  publishAhead?: number;
  /** The JWKS Cache-Control max-age, seconds (signing.jwks_max_age). */
  jwksMaxAge?: number;
  /** The SQLite file's path (default: kubegate.db in the temp dir), e.g. on a small tmpfs for the disk-full test. */
  sqlitePath?: string;
  /** storage.sqlite.busy_timeout, seconds. */
  busyTimeout?: number;
  /** PostgreSQL instead of the SQLite file: storage.postgres (`url` and the other fields as given). */
  postgres?: { url: string } & Record<string, unknown>;
  /** The config's `server` section (trust_proxy, timeouts, max_connections, token_rate_limit). */
  server?: Record<string, unknown>;
  /** The config's extra OAuth `clients` (lib/config/schema.ts ClientSchema). */
  clients?: Array<Record<string, unknown>>;
  /** Native TLS (server.tls): the issuer becomes https://127.0.0.1:port; `caPem` is what the harness trusts. */
  tls?: { certFile: string; keyFile: string; caPem: string; reloadInterval?: string };
}

/**
 * The local users the seeder signs in (test/http/support/seed.ts): a refresh
 * reads each person's groups from here (lib/auth/entitlements.ts), so they
 * match what the seeder records by default.
 */
export const LOCAL_USERS: ReadonlyArray<{ username: string; groups: string[] }> = [
  { username: 'alice', groups: ['developers', 'system:authenticated-extra'] },
  { username: 'bob', groups: ['ops'] },
  { username: 'leaver', groups: ['developers'] },
  { username: 'bench', groups: ['developers'] },
];
/** Nobody signs in with it through the portal in this suite: any bcrypt hash will do. */
const UNUSED_HASH = '$2b$04$1Wl10NHjfLO8kEjRmGddveMjt0Weg3nqJHGBrSNBOUQgsdh9zCF7K';

/**
 * server.token_rate_limit for tests that drive chains in a closed loop (many
 * refreshes of one credential per second, where kubectl does one a minute):
 * out of the way of what they test.
 */
export const LOAD_RATE_LIMIT = { per_credential: { burst: 1_000_000, per_minute: 1_000_000 } };

export const STAGE_SECRET = 's3cr3t:/+%';

export interface KubegateFiles {
  dir: string;
  port: number;
  issuer: string;
  configPath: string;
  dbPath: string;
  /** The CA the harness trusts for an https issuer (setup.tls). */
  caPem?: string;
}

/** A fresh temp dir holding a config for two clusters and one local upstream. */
export async function prepareKubegate(setup: KubegateSetup = {}, prefix = 'kubegate-http-'): Promise<KubegateFiles> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const port = await freePort();
  const issuer = `${setup.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const dbPath = setup.sqlitePath ?? path.join(dir, 'kubegate.db');
  const configPath = path.join(dir, 'kubegate.yaml');
  // The key-encryption key for the database's secrets, beside the config as the embedded default keeps it.
  fs.writeFileSync(path.join(dir, 'kubegate.key'), randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  // JSON is YAML: no quoting surprises for the secret's ':' '/' '+' '%'.
  const config = {
    issuer: {
      url: issuer,
      id_token_lifetime: `${setup.idTokenLifetime ?? 60}s`,
      refresh_idle_timeout: '15m',
      session_lifetime: '12h',
      refresh_reuse_grace: `${setup.reuseGrace ?? 2}s`,
    },
    signing: {
      algorithm: setup.alg ?? 'RS256',
      ...(setup.jwksMaxAge ? { jwks_max_age: `${setup.jwksMaxAge}s` } : {}),
      ...(setup.publishAhead ? { publish_ahead: `${setup.publishAhead}s` } : {}),
    },
    storage: setup.postgres
      ? { postgres: setup.postgres }
      : {
          sqlite: { path: dbPath, synchronous: setup.synchronous ?? 'full', ...(setup.busyTimeout === undefined ? {} : { busy_timeout: `${setup.busyTimeout}s` }) },
        },
    secrets: { key_encryption_key_file: 'kubegate.key' },
    ...(setup.server || setup.tls
      ? {
          server: {
            ...setup.server,
            ...(setup.tls ? { tls: { cert_file: setup.tls.certFile, key_file: setup.tls.keyFile, reload_interval: setup.tls.reloadInterval ?? '1s' } } : {}),
          },
        }
      : {}),
    ...(setup.clients ? { clients: setup.clients } : {}),
    upstreams: [{ id: 'local', type: 'local', display_name: 'Local account' }],
    users: LOCAL_USERS.map((u) => ({ username: u.username, email: `${u.username}@example.com`, name: `Test ${u.username}`, password_hash: UNUSED_HASH, groups: u.groups })),
    clusters: [
      { name: 'prod', display_name: 'Production', server: 'https://127.0.0.1:6443', client_id: 'kubernetes' },
      { name: 'stage', display_name: 'Staging', server: 'https://127.0.0.1:6444', client_id: 'stage-cluster', client_secret: STAGE_SECRET },
    ],
  };
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return { dir, port, issuer, configPath, dbPath, ...(setup.tls ? { caPem: setup.tls.caPem } : {}) };
}

/** GET `url` trusting `caPem` (an https issuer with a test CA); resolves with the status. */
export function httpsStatus(url: string, caPem: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caPem, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** One run of the production server; `start()` again after `kill()` restarts it on the same files. */
export class KubegateServer {
  private child: ChildProcess | undefined;
  private output: string[] = [];
  readonly logFile: string;
  /** stdout alone (JSON lines: logs, access lines, audit lines), appended across restarts. */
  readonly stdoutFile: string;
  /** How the last run ended. */
  lastExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(readonly files: KubegateFiles) {
    this.logFile = path.join(files.dir, 'server.log');
    this.stdoutFile = path.join(files.dir, 'stdout.jsonl');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return this.files.issuer;
  }

  /** Last lines the server wrote, for failure messages. */
  tail(lines = 40): string {
    return this.output.join('').split('\n').slice(-lines).join('\n');
  }

  async start(timeoutMs = 60_000): Promise<void> {
    assertBuilt();
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error('already running');
    // The test runner's own variables stay out; start.mjs sets NODE_ENV=production itself.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (/^(VITEST|__VITEST|TSX|NODE_OPTIONS$|NODE_ENV$)/.test(k)) delete env[k];
    Object.assign(env, {
      PORT: String(this.files.port),
      HOST: '127.0.0.1',
      KUBEGATE_CONFIG: this.files.configPath,
      NEXT_TELEMETRY_DISABLED: '1',
    });
    this.output = [];
    const log = fs.createWriteStream(this.logFile, { flags: 'a' });
    const stdoutLog = fs.createWriteStream(this.stdoutFile, { flags: 'a' });
    const child = spawn(process.execPath, ['scripts/start.mjs'], { cwd: PROJECT_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk: Buffer) => {
      log.write(chunk);
      this.output.push(chunk.toString('utf8'));
      if (this.output.length > 400) this.output.splice(0, 200);
    };
    child.stdout!.on('data', keep);
    child.stdout!.on('data', (chunk: Buffer) => stdoutLog.write(chunk));
    child.stderr!.on('data', keep);
    this.lastExit = undefined;
    // 'close': the pipes are drained too, so the files hold everything the process wrote.
    child.on('close', (code, signal) => {
      this.lastExit = { code, signal };
      log.end();
      stdoutLog.end();
    });

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`kubegate exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${this.tail()}`);
      }
      try {
        if (this.files.caPem) {
          if ((await httpsStatus(`${this.url}/healthz`, this.files.caPem)) === 200) return;
        } else {
          const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          if (res.status === 200) return;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`kubegate did not answer /healthz within ${timeoutMs} ms:\n${this.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends `signal` and waits for the process to be gone. SIGKILL is the crash case. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }

  /** Graceful stop (SIGTERM), then removes the temp dir unless `keepFiles`. */
  async stop(opts: { keepFiles?: boolean } = {}): Promise<void> {
    await this.kill('SIGTERM');
    if (!opts.keepFiles) fs.rmSync(this.files.dir, { recursive: true, force: true });
  }
}
