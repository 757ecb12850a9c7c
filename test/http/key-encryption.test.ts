/**
 * Secrets at rest, as an operator meets them with the built server: no
 * key-encryption key, or the wrong one, and Kubegate refuses to start
 * saying why; the embedded default writes its key beside its config and
 * follows PORT/HOST on every start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { KEK_ENV, KeyEncryptionKey } from '../../lib/crypto/kek';
import { freePort, KubegateServer, prepareKubegate, PROJECT_DIR } from './support/kubegate';
import { openSeeder } from './support/seed';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  output: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `node scripts/start.mjs` (or the admin command) in `cwd`, with exactly the Kubegate variables given. */
function run(script: 'start' | 'kubegate', cwd: string, vars: Record<string, string>, args: string[] = []): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^(VITEST|__VITEST|TSX|NODE_OPTIONS$|NODE_ENV$|KUBEGATE_|PORT$|HOST$)/.test(k)) delete env[k];
  Object.assign(env, { NEXT_TELEMETRY_DISABLED: '1' }, vars);
  const child = spawn(process.execPath, [path.join(PROJECT_DIR, `scripts/${script}.mjs`), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out + err, stderr: () => err, exited };
}

async function healthy(url: string, r: Run): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (r.child.exitCode !== null) throw new Error(`kubegate exited with ${r.child.exitCode}:\n${r.output()}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`not healthy:\n${r.output()}`);
}

async function stop(r: Run): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  await r.exited;
}

describe('the key-encryption key', () => {
  it('is required: without one, the server and the admin command refuse to start and say how to give one', async () => {
    const files = await prepareKubegate({}, 'kubegate-kek-missing-');
    dirs.push(files.dir);
    const config = JSON.parse(fs.readFileSync(files.configPath, 'utf8')) as Record<string, unknown>;
    delete config.secrets;
    fs.writeFileSync(files.configPath, JSON.stringify(config));
    for (const script of ['start', 'kubegate'] as const) {
      const r = run(script, files.dir, { KUBEGATE_CONFIG: files.configPath, PORT: String(files.port), HOST: '127.0.0.1' }, script === 'kubegate' ? ['keys'] : []);
      expect(await r.exited, r.output()).toBe(2);
      expect(r.stderr()).toContain(`kubegate: invalid configuration in ${files.configPath}:\n  - secrets.key_encryption_key_file: no key-encryption key is configured.`);
      expect(r.stderr()).toContain(`set ${KEK_ENV} to base64 of 32 random bytes (openssl rand -base64 32)`);
    }
    // Refused before the database is even opened.
    expect(fs.existsSync(files.dbPath)).toBe(false);
  });

  it('must be the one the database was written with: another is refused, naming both, and nothing is written', async () => {
    const files = await prepareKubegate({}, 'kubegate-kek-wrong-');
    dirs.push(files.dir);
    // The database now holds a signing key encrypted with the configured key.
    await (await openSeeder(files.configPath)).close();
    const right = (await KeyEncryptionKey.parse(fs.readFileSync(path.join(files.dir, 'kubegate.key'), 'utf8'), '')) as KeyEncryptionKey;
    const wrongText = Buffer.alloc(32, 42).toString('base64');
    const wrong = (await KeyEncryptionKey.parse(wrongText, '')) as KeyEncryptionKey;
    const r = run('start', files.dir, { KUBEGATE_CONFIG: files.configPath, [KEK_ENV]: wrongText, PORT: String(files.port), HOST: '127.0.0.1' });
    expect(await r.exited, r.output()).toBe(2);
    expect(r.stderr()).toContain(`the database's signing_keys/`);
    expect(r.stderr()).toContain(`expects key ${right.kid}, the key given (${KEK_ENV}) is ${wrong.kid}`);
    // The right key still opens it: the refused start wrote nothing.
    const server = new KubegateServer(files);
    await server.start();
    await server.stop({ keepFiles: true });
  });
});

describe('the embedded default', () => {
  it('writes its key beside the config (0600), keeps the database free of secrets in clear, and follows PORT on every start', async () => {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-embedded-'));
    dirs.push(cwd);
    const [p1, p2] = [await freePort(), await freePort()];
    const first = run('start', cwd, { PORT: String(p1), HOST: '127.0.0.1' });
    await healthy(`http://127.0.0.1:${p1}`, first);
    const d1 = (await (await fetch(`http://127.0.0.1:${p1}/.well-known/openid-configuration`)).json()) as { issuer: string };
    expect(d1.issuer).toBe(`http://127.0.0.1:${p1}`);
    expect(first.stderr()).toContain(`kubegate: issuer URL http://127.0.0.1:${p1}: ${path.join(cwd, 'data', 'kubegate.yaml')} sets issuer.url to \${KUBEGATE_LOCAL_URL}`);
    expect(first.stderr()).toContain(`(PORT=${p1}, HOST=127.0.0.1)`);
    await stop(first);
    expect(fs.statSync(path.join(cwd, 'data', 'kubegate.key')).mode & 0o777).toBe(0o600);

    const db = new Database(path.join(cwd, 'data', 'kubegate.db'), { readonly: true });
    const keys = db.prepare('select private_jwk from signing_keys').all() as { private_jwk: string }[];
    const secrets = db.prepare('select value from server_secrets').all() as { value: string }[];
    db.close();
    expect(keys.length).toBeGreaterThan(0);
    for (const v of [...keys.map((k) => k.private_jwk), ...secrets.map((s) => s.value)]) expect(v).toMatch(/^eyJ[^.]*\.\.[^.]+\.[^.]+\.[^.]+$/);

    // Regression: the second start on another port served discovery and portal URLs for the first one.
    const second = run('start', cwd, { PORT: String(p2), HOST: '127.0.0.1' });
    try {
      await healthy(`http://127.0.0.1:${p2}`, second);
      const d2 = (await (await fetch(`http://127.0.0.1:${p2}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
      expect(d2.issuer).toBe(`http://127.0.0.1:${p2}`);
      expect(d2.jwks_uri).toBe(`http://127.0.0.1:${p2}/oidc/jwks`);
      expect(second.output()).not.toContain('Sign in:'); // not generated again
    } finally {
      await stop(second);
    }
  });
});
