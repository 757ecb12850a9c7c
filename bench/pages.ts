/**
 * `npm run bench -- pages` — server render time and first-load JavaScript of
 * the portal pages of the BUILT Kubegate, for a signed-in person.
 *
 *   tsx bench/pages.ts [--count 400] [--concurrency 4] [--warmup 100]
 *
 * Requires `npm run build` (never builds). Starts `node scripts/start.mjs`
 * with a temp config (SQLite, synchronous=full, a local account with a known
 * password), signs in through Auth.js's own endpoints exactly as the sign-in
 * form does (CSRF double-submit, credentials callback, the `__Host-` session
 * cookie), then, after a warm-up, times full responses (request sent to last
 * body byte, on a keep-alive connection) of:
 *   - `/`                 the portal home (signed in),
 *   - `/clusters/prod`    a cluster page (signed in),
 *   - `/login`            the sign-in page, signed out (a small page through the same root layout),
 *   - a 404               Next's not-found page under the root layout: the nearest thing to an empty page,
 * at concurrency 1 and at `--concurrency`, without Accept-Encoding (Next
 * would gzip the HTML for a browser; that cost is not in these figures). It
 * also reports the server's CPU time per request (from /proc), which is
 * steadier than latency on a shared machine. First-load JavaScript: every `<script src>` under /_next/static in
 * a page's HTML, fetched and gzipped (level 9), summed; `nomodule` scripts
 * (Next's legacy polyfills, which no module-capable browser loads) are left out;
 * the inline flight data (`self.__next_f.push` scripts, the page's own RSC
 * payload) is reported separately and not counted in the goal.
 *
 * Goals (issue #11): portal home and cluster page p50 ≤ 8 ms at concurrency 1;
 * first-load JS ≤ 150 KiB gzip. Prints PASS/MISS for each; exits 1 only if a
 * request failed (a wrong status, or a page that is not the signed-in page).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import bcrypt from 'bcryptjs';
import { TestBrowser } from '../test/http/support/browser';
import { reportGoals } from './common';
import { assertBuilt, KubegateServer, NoBuildError, prepareKubegate } from '../test/http/support/kubegate';

// ---------------------------------------------------------------- options

const { values: opt } = parseArgs({
  options: {
    count: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '100' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const USAGE = 'usage: tsx bench/pages.ts [--count N] [--concurrency C] [--warmup N]\n';
if (opt.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const COUNT = Number(opt.count);
const CONCURRENCY = Number(opt.concurrency);
const WARMUP = Number(opt.warmup);
if (!Number.isInteger(COUNT) || COUNT < 1 || !Number.isInteger(CONCURRENCY) || CONCURRENCY < 1 || !Number.isInteger(WARMUP) || WARMUP < 0) {
  process.stderr.write(`bench pages: --count and --concurrency must be positive integers, --warmup a non-negative one\n${USAGE}`);
  process.exit(2);
}

const GOAL_P50_MS = 8;
const GOAL_JS_KIB = 150;
const USERNAME = 'bench';
const PASSWORD = 'bench-pages-password';
const CLUSTER = 'prod';

try {
  assertBuilt();
} catch (err) {
  process.stderr.write(`bench pages: ${err instanceof NoBuildError ? err.message : String(err)}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------- measurement helpers

/**
 * CPU time a process has run, in ms: /proc/PID/schedstat (nanoseconds) where
 * the kernel has it, else utime+stime from /proc/PID/stat (clock ticks);
 * undefined off Linux.
 */
function procCpuMs(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    } catch {
      return undefined;
    }
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(agent: http.Agent, url: URL, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'GET', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Target {
  name: string;
  path: string;
  /** Sent as the Cookie header (the signed-in pages). */
  cookie?: string;
  status: number;
  /** Text the right page carries: a signed-in page that silently redirected to /login must not count. */
  marker: string;
}

interface Phase {
  target: string;
  concurrency: number;
  count: number;
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU milliseconds per request (utime+stime over the phase / count). */
  serverCpuMs: number | undefined;
  errors: number;
  errorSamples: string[];
}

function checkReply(t: Target, r: Reply): void {
  if (r.status !== t.status) throw new Error(`${t.path}: HTTP ${r.status} (want ${t.status}) ${r.headers.location ?? ''}`);
  if (!r.body.includes(t.marker)) throw new Error(`${t.path}: the page does not carry ${JSON.stringify(t.marker)} (not the page meant)`);
}

async function drive(base: string, t: Target, concurrency: number, count: number, serverPid: number | undefined): Promise<Phase> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const url = new URL(t.path, base);
  const headers: Record<string, string> = { accept: 'text/html', 'user-agent': 'kubegate-bench-pages', ...(t.cookie ? { cookie: t.cookie } : {}) };
  const latencies = new Float64Array(count);
  let next = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const cpu0 = procCpuMs(serverPid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const s = performance.now();
        try {
          checkReply(t, await get(agent, url, headers));
        } catch (err) {
          errors++;
          if (errorSamples.length < 3) errorSamples.push(err instanceof Error ? err.message : String(err));
        }
        latencies[i] = performance.now() - s;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = procCpuMs(serverPid);
  agent.destroy();
  latencies.sort();
  return {
    target: t.name,
    concurrency,
    count,
    rps: count / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    serverCpuMs: cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / count : undefined,
    errors,
    errorSamples,
  };
}

interface FirstLoad {
  scripts: number;
  /** `nomodule` polyfill scripts, not counted. */
  legacyScripts: number;
  /** Sum of the gzip sizes of the <script src> chunks, bytes. */
  gzipBytes: number;
  rawBytes: number;
  /** The inline flight data (RSC payload) of the page, gzipped; not counted in gzipBytes. */
  inlineGzipBytes: number;
}

/** Every external script a page's HTML loads from /_next/static, and its inline scripts, gzip-sized. */
async function firstLoad(base: string, t: Target): Promise<FirstLoad> {
  const agent = new http.Agent({ keepAlive: true });
  const headers: Record<string, string> = { accept: 'text/html', ...(t.cookie ? { cookie: t.cookie } : {}) };
  const page = await get(agent, new URL(t.path, base), headers);
  checkReply(t, page);
  const srcs = new Set<string>();
  const legacy = new Set<string>();
  for (const m of page.body.matchAll(/<script\b[^>]*\bsrc="([^"]+)"[^>]*>/g)) {
    const src = m[1]!.replaceAll('&amp;', '&');
    if (!new URL(src, base).pathname.startsWith('/_next/static/')) continue;
    // `nomodule` scripts (Next's legacy polyfills) are skipped by every browser that runs modules: not first-load JS.
    (/\bnomodule\b/i.test(m[0]) ? legacy : srcs).add(src);
  }
  let gzipBytes = 0;
  let rawBytes = 0;
  for (const src of srcs) {
    const r = await get(agent, new URL(src, base), {});
    if (r.status !== 200) throw new Error(`${src}: HTTP ${r.status}`);
    const buf = Buffer.from(r.body, 'utf8');
    rawBytes += buf.length;
    gzipBytes += gzipSync(buf, { level: 9 }).length;
  }
  const inline = [...page.body.matchAll(/<script\b(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]!).join('');
  agent.destroy();
  return { scripts: srcs.size, legacyScripts: legacy.size, gzipBytes, rawBytes, inlineGzipBytes: inline ? gzipSync(Buffer.from(inline), { level: 9 }).length : 0 };
}

const fmt = (n: number | undefined, d = 0) => (n !== undefined && Number.isFinite(n) ? n.toFixed(d) : '-');
const kib = (n: number) => (n / 1024).toFixed(1);
const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');

function printPhase(p: Phase): void {
  process.stdout.write(
    `  ${p.target.padEnd(16)} c=${String(p.concurrency).padEnd(3)} n=${String(p.count).padEnd(5)} ` +
      `${fmt(p.rps).padStart(6)} req/s   p50 ${fmt(p.p50, 2).padStart(6)} ms   p99 ${fmt(p.p99, 2).padStart(6)} ms   ` +
      `server cpu ${fmt(p.serverCpuMs, 2).padStart(5)} ms/req   errors ${p.errors}\n`,
  );
  for (const s of p.errorSamples) process.stdout.write(`      error: ${s.slice(0, 300)}\n`);
}

// ---------------------------------------------------------------- run

async function main(): Promise<number> {
  const files = await prepareKubegate({}, 'kubegate-bench-pages-');
  // The harness's users carry an unusable hash; the bench signs in through the real form, so one gets a known password.
  const config = JSON.parse(fs.readFileSync(files.configPath, 'utf8')) as { users: Array<{ username: string; password_hash: string }> };
  const hash = bcrypt.hashSync(PASSWORD, 4);
  for (const u of config.users) if (u.username === USERNAME) u.password_hash = hash;
  fs.writeFileSync(files.configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });

  const server = new KubegateServer(files);
  await server.start();
  let failed = 0;
  try {
    const browser = new TestBrowser(server.url);
    await browser.signIn(USERNAME, PASSWORD);
    const cookie = browser.cookieHeader();
    const targets: Target[] = [
      { name: 'home /', path: '/', cookie, status: 200, marker: 'data-testid="username"' },
      { name: `cluster /clusters/${CLUSTER}`, path: `/clusters/${CLUSTER}`, cookie, status: 200, marker: 'data-testid="token-groups"' },
      { name: 'login (out)', path: '/login', status: 200, marker: 'name="password"' },
      { name: '404 page', path: '/bench-no-such-page', status: 404, marker: '<html' },
    ];
    const pid = server.pid;
    process.stdout.write(
      `Kubegate portal pages — ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${loadavg()}\n` +
        `signed in as ${USERNAME} through Auth.js (local upstream); warm-up ${WARMUP} per page, then ${COUNT} requests per phase\n\n`,
    );
    for (const t of targets) await drive(server.url, t, CONCURRENCY, WARMUP, pid);

    const phases: Phase[] = [];
    process.stdout.write('Server render, full response time (keep-alive, HTML body read to the end):\n');
    for (const c of [...new Set([1, CONCURRENCY])]) {
      for (const t of targets) {
        const p = await drive(server.url, t, c, COUNT, pid);
        phases.push(p);
        failed += p.errors;
        printPhase(p);
      }
    }

    process.stdout.write('\nFirst-load JavaScript (<script src> under /_next/static but nomodule, gzip -9; inline flight data apart, not counted):\n');
    const loads = new Map<string, FirstLoad>();
    for (const t of targets.slice(0, 3)) {
      const fl = await firstLoad(server.url, t);
      loads.set(t.name, fl);
      process.stdout.write(
        `  ${t.name.padEnd(22)} ${String(fl.scripts).padStart(2)} scripts   ${kib(fl.gzipBytes).padStart(6)} KiB gzip (${kib(fl.rawBytes)} KiB raw)   ` +
          `inline flight data ${kib(fl.inlineGzipBytes)} KiB gzip\n`,
      );
    }

    const c1 = (name: string) => phases.find((p) => p.target === name && p.concurrency === 1)!;
    const lines: Array<[string, string, boolean]> = [];
    for (const t of targets.slice(0, 2)) {
      const p = c1(t.name);
      lines.push([`${t.name} render p50 (c=1)`, `${fmt(p.p50, 2)} ms (p99 ${fmt(p.p99, 2)} ms; server cpu ${fmt(p.serverCpuMs, 2)} ms/req)   [goal ≤ ${GOAL_P50_MS} ms]`, p.p50 <= GOAL_P50_MS]);
    }
    for (const t of targets.slice(0, 2)) {
      const fl = loads.get(t.name)!;
      lines.push([`${t.name} first-load JS`, `${kib(fl.gzipBytes)} KiB gzip   [goal ≤ ${GOAL_JS_KIB} KiB]`, fl.gzipBytes <= GOAL_JS_KIB * 1024]);
    }
    const base = c1('404 page');
    const login = c1('login (out)');
    process.stdout.write(
      `\nSummary (load average ${loadavg()}; baselines: 404 page p50 ${fmt(base.p50, 2)} ms, /login signed out p50 ${fmt(login.p50, 2)} ms)\n`,
    );
    const w0 = Math.max(...lines.map(([a]) => a.length));
    for (const [a, b, ok] of lines) process.stdout.write(`  ${verdict(ok)}  ${a.padEnd(w0)}  ${b}\n`);
    // Rows for `npm run bench`'s one summary table (bench/run.ts reads $BENCH_GOALS_FILE).
    reportGoals(lines.map(([goal, measured, pass]) => ({ goal, measured: measured.replace(/\s+\[goal.*$/, ''), pass })));
    if (failed) process.stdout.write(`\n${failed} request(s) failed: the figures above are not valid\n`);
  } finally {
    await server.stop({ keepFiles: false });
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench pages: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
