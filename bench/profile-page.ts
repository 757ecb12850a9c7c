/**
 * Profiling aid for the portal pages: starts the BUILT Kubegate under
 * `node --cpu-prof`, signs in as bench/pages.ts does, requests one page N
 * times at concurrency 1 and stops the server, which writes a .cpuprofile.
 *
 *   tsx bench/profile-page.ts [--path /clusters/prod] [--count 2000] [--out DIR] [--signed-out] [--dump FILE]
 *
 * Open the profile in Chrome DevTools (Performance → load profile) or
 * summarise it with `tsx bench/profile-summary.ts FILE`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { TestBrowser } from '../test/http/support/browser';
import { assertBuilt, prepareKubegate, PROJECT_DIR } from '../test/http/support/kubegate';
import { getPage } from './common';

const { values: opt } = parseArgs({
  options: {
    path: { type: 'string', default: '/clusters/prod' },
    count: { type: 'string', default: '2000' },
    out: { type: 'string', default: 'profiles' },
    'signed-out': { type: 'boolean', default: false },
    /** Write the page's HTML (one more request) to this file. */
    dump: { type: 'string' },
  },
});
const USERNAME = 'bench';
const PASSWORD = 'bench-pages-password';

async function main(): Promise<void> {
  assertBuilt();
  const files = await prepareKubegate({}, 'kubegate-profile-pages-');
  const config = JSON.parse(fs.readFileSync(files.configPath, 'utf8')) as { users: Array<{ username: string; password_hash: string }> };
  for (const u of config.users) if (u.username === USERNAME) u.password_hash = bcrypt.hashSync(PASSWORD, 4);
  fs.writeFileSync(files.configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  const outDir = path.resolve(opt.out!);
  fs.mkdirSync(outDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(files.port), HOST: '127.0.0.1', KUBEGATE_CONFIG: files.configPath, NEXT_TELEMETRY_DISABLED: '1' };
  for (const k of Object.keys(env)) if (/^(TSX|NODE_OPTIONS$|NODE_ENV$)/.test(k)) delete env[k];
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${outDir}`, 'scripts/start.mjs'], { cwd: PROJECT_DIR, env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; ; i++) {
      try {
        const r = await fetch(`${files.issuer}/healthz`);
        if (r.status === 200) break;
      } catch {
        /* not yet */
      }
      if (i > 600) throw new Error('no /healthz');
      await new Promise((r) => setTimeout(r, 100));
    }
    let cookie: string | undefined;
    if (!opt['signed-out']) {
      const browser = new TestBrowser(files.issuer);
      await browser.signIn(USERNAME, PASSWORD);
      cookie = browser.cookieHeader();
    }
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL(opt.path!, files.issuer);
    const n = Number(opt.count);
    const statuses = new Map<number, number>();
    // Warm-up first, then the measured window (monotonic µs, the clock a .cpuprofile's timestamps use).
    for (let i = 0; i < Math.min(200, n); i++) await getPage(agent, url, cookie);
    const from = Number(process.hrtime.bigint() / 1000n);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const s = await getPage(agent, url, cookie);
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    const to = Number(process.hrtime.bigint() / 1000n);
    process.stdout.write(`${n} × ${opt.path}: ${((performance.now() - t0) / n).toFixed(2)} ms each; statuses ${JSON.stringify([...statuses])}\n`);
    fs.writeFileSync(path.join(outDir, 'window.json'), JSON.stringify({ from, to, count: n, path: opt.path }) + '\n');
    if (opt.dump) {
      const r = await fetch(url, { headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) } });
      fs.writeFileSync(opt.dump, await r.text());
    }
    agent.destroy();
  } finally {
    const gone = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await gone;
    fs.rmSync(files.dir, { recursive: true, force: true });
  }
  process.stdout.write(`profile written under ${outDir}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
