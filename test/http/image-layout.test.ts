/**
 * The container image, without a container engine: the Dockerfile's runtime
 * stage is read (test/http/support/dockerfile.ts), exactly what its COPY
 * lines copy is laid out in a temp directory standing for the image's `/`,
 * the application folder is made read-only, and Kubegate is started from it
 * with the stage's CMD and ENV as a non-root user (nobody, when the test runs
 * as root as it does in CI), its data in a directory only that user owns.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlRefresh } from './support/client';
import { reproduceLayout, runtimeStage, type RuntimeStage } from './support/dockerfile';
import { freePort, PROJECT_DIR, prepareKubegate, type KubegateFiles } from './support/kubegate';
import { openSeeder, type Seeder } from './support/seed';

const DOCKERFILE = fs.readFileSync(path.join(PROJECT_DIR, 'Dockerfile'), 'utf8');
const rt: RuntimeStage = runtimeStage(DOCKERFILE);
const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, 'package.json'), 'utf8')) as { license: string };
/** Who runs Kubegate here: nobody when we are root (CI), else ourselves (already not root). */
const AS = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
const me = AS ?? { uid: process.getuid!(), gid: process.getgid!() };

let root: string;
let app: string;

/** The image's environment for a process started from the layout: the stage's ENV, /data mapped into the temp root. */
function imageEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: app, LANG: 'C.UTF-8' };
  for (const [k, v] of rt.env) env[k] = v.startsWith('/') ? path.join(root, v) : v;
  return { ...env, ...extra } as NodeJS.ProcessEnv;
}

function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    execFile(cmd === 'node' ? process.execPath : cmd!, args, { cwd: app, env, ...AS, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

class LayoutServer {
  child!: ChildProcess;
  output = '';
  constructor(
    readonly url: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  async start(): Promise<void> {
    const [cmd, ...args] = rt.cmd!;
    expect(cmd).toBe('node');
    this.child = spawn(process.execPath, args, { cwd: app, env: this.env, ...AS, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => (this.output += b.toString('utf8'));
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`kubegate exited from the image layout:\n${this.output}`);
      try {
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`no /healthz from the image layout:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(timer);
  }
}

describe("the Dockerfile's runtime stage", () => {
  it('runs Node 24 from a base pinned by digest, as a numeric non-root user, with OCI labels and a health check', () => {
    expect(rt.base).toMatch(/^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    for (const label of ['title', 'description', 'source', 'licenses', 'version', 'revision']) {
      expect(rt.labels.has(`org.opencontainers.image.${label}`), label).toBe(true);
    }
    expect(rt.labels.get('org.opencontainers.image.licenses')).toBe(pkg.license);
    expect(rt.labels.get('org.opencontainers.image.version')).toBe('${VERSION}');
    expect(rt.labels.get('org.opencontainers.image.revision')).toBe('${REVISION}');
    expect(rt.user).toMatch(/^1000(:1000)?$/);
    expect(rt.env.get('KUBEGATE_DATA_DIR')).toBe('/data');
    expect(rt.healthcheck?.[0]).toBe('node');
    // Only the standalone tree and its assets: never the whole node_modules or the sources.
    expect(rt.copies.map((c) => c.sources.join(' '))).toEqual(['/app/.next/standalone', '/app/.next/static', '/app/public']);
  });

  it('fails the layout when a COPY names something the build does not make', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-image-broken-'));
    try {
      const broken = runtimeStage(DOCKERFILE.replace(/^COPY --from=/m, 'COPY --from=build /app/dist/no-such-file.mjs ./dist/\nCOPY --from='));
      expect(() => reproduceLayout(broken, PROJECT_DIR, dir)).toThrow(/no-such-file\.mjs does not exist after the build/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kubegate started from the image layout (read-only /app, non-root user)', () => {
  let files: KubegateFiles;
  let server: LayoutServer;
  let seeder: Seeder;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-image-'));
    fs.chmodSync(root, 0o755);
    const copied = reproduceLayout(rt, PROJECT_DIR, root);
    expect(copied).toBeGreaterThan(100);
    app = path.join(root, rt.workdir);
    fs.chmodSync(app, 0o755);
    // What the image's RUN does: /data, owned by the user.
    fs.mkdirSync(path.join(root, 'data'), { mode: 0o700 });
    fs.chownSync(path.join(root, 'data'), me.uid, me.gid);
    await new Promise<void>((resolve, reject) => execFile('chmod', ['-R', 'a-w', app], (err) => (err ? reject(err) : resolve())));

    // Kubegate's own config and data in a directory only the user owns (KUBEGATE_DATA_DIR points there too).
    files = await prepareKubegate({}, 'kubegate-image-data-');
    for (const f of [files.dir, ...fs.readdirSync(files.dir).map((f) => path.join(files.dir, f))]) fs.chownSync(f, me.uid, me.gid);
    server = new LayoutServer(
      files.issuer,
      imageEnv({ HOST: '127.0.0.1', PORT: String(files.port), KUBEGATE_CONFIG: files.configPath, KUBEGATE_DATA_DIR: files.dir }),
    );
    await server.start();
    seeder = await openSeeder(files.configPath);
  });

  afterAll(async () => {
    await seeder?.close();
    await server?.stop();
    if (root) {
      await new Promise<void>((resolve) => execFile('chmod', ['-R', 'u+w', root], () => resolve()));
      fs.rmSync(root, { recursive: true, force: true });
    }
    if (files) fs.rmSync(files.dir, { recursive: true, force: true });
  });

  it('carries only what runs: the standalone tree, its static assets, the native SQLite module, no sources or dev tools', () => {
    expect(fs.existsSync(path.join(app, 'dist/server.mjs'))).toBe(true);
    expect(fs.existsSync(path.join(app, 'scripts/kubegate.mjs'))).toBe(true);
    expect(fs.existsSync(path.join(app, '.next/BUILD_ID'))).toBe(true);
    expect(fs.readdirSync(path.join(app, '.next/static')).length).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
    for (const absent of ['lib', 'app', 'server.ts', 'next.config.js', 'node_modules/typescript', 'node_modules/vitest', 'node_modules/esbuild', 'node_modules/@playwright']) {
      expect(fs.existsSync(path.join(app, absent)), absent).toBe(false);
    }
  });

  it('runs as the non-root user, who cannot write the application folder', async () => {
    const status = fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${me.uid}\\s+${me.uid}\\s`, 'm'));
    if (AS) expect(me.uid).not.toBe(0);
    for (const target of ['probe', '.next/probe', 'dist/server.mjs']) {
      const w = await run(['node', '-e', `require('node:fs').writeFileSync(${JSON.stringify(target)}, 'x')`], imageEnv({}));
      expect(w.code, target).not.toBe(0);
      expect(w.stderr, target).toMatch(/EACCES|EROFS/);
    }
  });

  it('answers health, readiness, discovery and the JWKS; the Dockerfile HEALTHCHECK passes', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status, await ready.clone().text()).toBe(200);
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    expect(discovery.issuer).toBe(files.issuer);
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThan(0);

    const check = await run(rt.healthcheck!, imageEnv({ PORT: String(files.port) }));
    expect(check.code, check.stderr).toBe(0);
  });

  it('renders the login page with its scripts and styles served from .next/static', async () => {
    const res = await fetch(`${server.url}/login`);
    expect(res.status).toBe(200);
    // next.config.js is not in the image: its settings arrive through the build's resolved config (scripts/start.mjs).
    expect(res.headers.get('x-powered-by')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Local account');
    const assets = [...new Set([...html.matchAll(/\/_next\/static\/[^"'\s)]+\.(?:js|css)/g)].map((m) => m[0]))];
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const asset of assets) {
      const r = await fetch(server.url + asset);
      expect(r.status, asset).toBe(200);
      expect((await r.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
  });

  it('refreshes a token (a signed ID token and the next refresh token) with the store in the data directory', async () => {
    const { refreshToken } = await seeder.mint('prod', await seeder.signIn('alice'));
    const r = await kubectlRefresh(server.url, 'kubernetes', '', refreshToken);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.refresh_token).toMatch(/^kgr_/);
    const jwks = (await (await fetch(`${server.url}/oidc/jwks`)).json()) as JSONWebKeySet;
    const { payload } = await jwtVerify(String(r.json.id_token), createLocalJWKSet(jwks), { issuer: files.issuer, audience: 'kubernetes' });
    expect(payload.preferred_username ?? payload.sub).toBeTruthy();
    const owners = fs.readdirSync(files.dir).map((f) => fs.statSync(path.join(files.dir, f)).uid);
    expect(new Set(owners)).toEqual(new Set([me.uid]));
  });

  it('runs the admin command from the layout: `node scripts/kubegate.mjs sessions`', async () => {
    const who = await seeder.signIn('bob', ['ops']);
    const out = await run(['node', 'scripts/kubegate.mjs', 'sessions', '--user', 'bob'], imageEnv({ KUBEGATE_CONFIG: files.configPath }));
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(who.session.id);
  });

  it('wrote nothing outside its data directory: no permission errors in its output', () => {
    expect(server.output).not.toMatch(/EACCES|EROFS|EPERM|permission denied/i);
  });

  it('on a first start without a config, writes the embedded default, its key and the database to /data only', async () => {
    const port = await freePort();
    const first = new LayoutServer(`http://127.0.0.1:${port}`, imageEnv({ HOST: '127.0.0.1', PORT: String(port) }));
    try {
      await first.start();
      const ready = await fetch(`${first.url}/readyz`);
      expect(ready.status, await ready.clone().text()).toBe(200);
      const data = path.join(root, 'data');
      expect(fs.readdirSync(data)).toEqual(expect.arrayContaining(['kubegate.yaml', 'kubegate.key', 'kubegate.db']));
      expect(first.output).toContain('Kubegate is running on its embedded default');
      expect(first.output).not.toMatch(/EACCES|EROFS|EPERM|permission denied/i);
    } finally {
      await first.stop();
    }
  });
});
