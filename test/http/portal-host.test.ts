/**
 * The first-time user's start, against the built server: the embedded
 * default (no config anywhere), then the portal opened under another host
 * name than the issuer's. Its own server process, started from an empty
 * directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw } from './support/client';
import { freePort, PROJECT_DIR } from './support/kubegate';

let child: ChildProcess;
let dir: string;
let base: string;
let port: number;
let stdout = '';
let stderr = '';
/** The issuer URL the default config chose, and a loopback host name that is not its host. */
let issuer: URL;
let otherHost: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-default-'));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^(VITEST|__VITEST|TSX|NODE_OPTIONS$|NODE_ENV$|KUBEGATE_)/.test(k)) delete env[k];
  Object.assign(env, { PORT: String(port), HOST: '127.0.0.1', NEXT_TELEMETRY_DISABLED: '1' });
  child = spawn(process.execPath, [path.join(PROJECT_DIR, 'scripts/start.mjs')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kubegate exited during start-up:\n${stdout}\n${stderr}`);
    try {
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`kubegate did not start:\n${stdout}\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const discovery = (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as { issuer: string };
  issuer = new URL(discovery.issuer);
  otherHost = `${issuer.hostname === 'localhost' ? '127.0.0.1' : 'localhost'}:${port}`;
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await gone;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the embedded default', () => {
  // Regression: the banner went to stdout, between the JSON log lines.
  it('writes only JSON lines to stdout once started; the sign-in banner goes to stderr', () => {
    // Next.js prints its own start-up lines ("✓ Running next.config.js") before we listen.
    const all = stdout.split('\n').filter((l) => l !== '');
    const started = all.findIndex((l) => l.includes('"kubegate listening"'));
    expect(started).toBeGreaterThanOrEqual(0);
    const lines = all.slice(started);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(stderr).toMatch(/Sign in: +demo \/ \S+/);
    expect(stdout).not.toMatch(/Sign in/);
  });
});

describe('a portal request under another host name than the issuer', () => {
  // Regression: the issuer was http://localhost:3000, the person typed
  // http://127.0.0.1:3000, and the sign-in POST failed with "Invalid Server
  // Actions request" on an unstyled 500.
  it('is sent to the same path and query on the issuer (GET: 307, never cached)', async () => {
    const res = await raw(base, { path: '/login?callbackUrl=%2Fclusters%2Fprod', headers: { host: otherHost } });
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe(`${issuer.origin}/login?callbackUrl=%2Fclusters%2Fprod`);
    expect(res.headers['cache-control']).toBe('no-store');
    const head = await raw(base, { method: 'HEAD', path: '/', headers: { host: otherHost } });
    expect([head.status, head.headers.location]).toEqual([307, `${issuer.origin}/`]);
  });

  it('sends a form post there as a GET of the page (303)', async () => {
    const res = await raw(base, { method: 'POST', path: '/login', headers: { host: otherHost, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`${issuer.origin}/login`);
  });

  it('is served at the issuer host', async () => {
    const res = await raw(base, { path: '/login', headers: { host: issuer.host } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
  });

  it('leaves the issuer endpoints alone under any host name (API servers and kubectl use them)', async () => {
    for (const p of ['/.well-known/openid-configuration', '/oidc/jwks', '/healthz']) {
      const res = await raw(base, { path: p, headers: { host: otherHost } });
      expect(res.status, p).toBe(200);
    }
  });
});
