/**
 * Soak: many simulated kubectl users refreshing through ONE built Kubegate
 * process for minutes, checking that nothing errs, that memory stays flat
 * after warm-up, and that every family's chain is intact at the end.
 *
 *   tsx bench/soak.ts [--users 10000] [--interval 50] [--minutes 10] [--warmup 2]
 *                     [--store sqlite|postgres] [--alg RS256|ES256] [--sockets 64]
 *
 * Requires `npm run build` (never builds). Starts `node scripts/start.mjs`
 * with a temp config (SQLite with synchronous=full, or a fresh schema in the
 * PostgreSQL at KUBEGATE_TEST_POSTGRES_URL), seeds one refresh-token family
 * per user through the library, then every user refreshes every `interval`
 * seconds (first refreshes spread evenly over one interval, each next one
 * jittered by ±5 %), always with the refresh_token its previous answer
 * returned, as kubectl does. Requests go through one keep-alive agent
 * (`--sockets` connections at most), like kubectl's Go transport.
 *
 * Reports total refreshes, errors, p50/p99 latency per minute (from the
 * moment the request is made, so a wait for a free socket counts), the server's
 * RSS (VmRSS from /proc/<pid>/status) every ~10 s, and the RSS growth after
 * warm-up: the median of the samples in the first minute after `--warmup`
 * minutes against the median of the samples in the last minute. Then reads
 * the database: every family has exactly one live (unused) token, it is the
 * token the client holds, its generation and the family's equal the number
 * of refreshes that client did, and no family is revoked. Prints PASS/MISS
 * per goal and exits 1 on any MISS.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { hashRefreshToken } from '../lib/oidc/refresh-tokens';
import { assertBuilt, KubegateServer, NoBuildError, prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';

// ---------------------------------------------------------------- options

const { values: opt } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    interval: { type: 'string', default: '50' },
    minutes: { type: 'string', default: '10' },
    warmup: { type: 'string' },
    store: { type: 'string', default: 'sqlite' },
    alg: { type: 'string', default: 'RS256' },
    sockets: { type: 'string', default: '64' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const USAGE =
  'usage: tsx bench/soak.ts [--users 10000] [--interval 50] [--minutes 10] [--warmup 2] [--store sqlite|postgres] [--alg RS256|ES256] [--sockets 64]\n';
if (opt.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const USERS = Math.floor(Number(opt.users));
const INTERVAL_MS = Number(opt.interval) * 1000;
const MINUTES = Number(opt.minutes);
/** Warm-up excluded from the RSS goal: 2 minutes by default, a fifth of shorter runs. */
const WARMUP_MIN = opt.warmup !== undefined ? Number(opt.warmup) : Math.min(2, MINUTES / 5);
const STORE = opt.store!.toLowerCase();
const ALG = opt.alg!.toUpperCase();
const SOCKETS = Math.floor(Number(opt.sockets));
if (
  !(USERS > 0) ||
  !(INTERVAL_MS > 0) ||
  !(MINUTES > 0) ||
  !(WARMUP_MIN >= 0 && WARMUP_MIN < MINUTES) ||
  (STORE !== 'sqlite' && STORE !== 'postgres') ||
  (ALG !== 'RS256' && ALG !== 'ES256') ||
  !(SOCKETS > 0)
) {
  process.stderr.write(`soak: bad arguments\n${USAGE}`);
  process.exit(2);
}
const RSS_EVERY_MS = 10_000;
const JITTER = 0.05;
const RSS_GOAL = 0.1;

try {
  assertBuilt();
} catch (err) {
  process.stderr.write(`soak: ${err instanceof NoBuildError ? err.message : String(err)}\n`);
  process.exit(1);
}

const say = (s: string) => process.stdout.write(s + '\n');
const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const mib = (kib: number) => (kib / 1024).toFixed(1);

function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

/** VmRSS of a process in KiB (Linux /proc), undefined elsewhere. */
function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- the server

const PG_BASE = process.env.KUBEGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgSchema = `kubegate_soak_${randomBytes(6).toString('hex')}`;
let pgAdmin: pg.Pool | undefined;
let postgres: { url: string } | undefined;
if (STORE === 'postgres') {
  pgAdmin = new pg.Pool({ connectionString: PG_BASE, max: 2, connectionTimeoutMillis: 3000 });
  pgAdmin.on('error', () => {});
  await pgAdmin.query(`create schema ${pgSchema}`);
  const url = new URL(PG_BASE);
  url.searchParams.set('options', `-c search_path=${pgSchema}`);
  postgres = { url: url.toString() };
}

// id_token lifetime 60 s: kubectl refreshes once it has expired, so every ~50-60 s per user.
const files = await prepareKubegate({ alg: ALG as 'RS256' | 'ES256', synchronous: 'full', idTokenLifetime: 60, reuseGrace: 10, postgres }, 'kubegate-soak-');
const server = new KubegateServer(files);
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await server.stop({ keepFiles: process.env.KEEP_SOAK_FILES === '1' });
  if (pgAdmin) {
    await pgAdmin.query(`drop schema if exists ${pgSchema} cascade`).catch(() => {});
    await pgAdmin.end();
  }
}
process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));

say(`soak: ${USERS} users, one refresh each every ${INTERVAL_MS / 1000} s (±${JITTER * 100} %), ${MINUTES} min, warm-up ${WARMUP_MIN} min excluded`);
say(`      store ${STORE}${STORE === 'sqlite' ? ' (synchronous=full)' : ''}, ${ALG}, keep-alive agent with at most ${SOCKETS} sockets`);
say(`      machine: ${os.cpus().length} CPUs, load average ${loadavg()}`);

await server.start();
const pid = server.pid!;

// ---------------------------------------------------------------- seeding

interface Client {
  family: string;
  token: string;
  /** Refreshes answered 200 (the generation the client's token has). */
  done: number;
  busy: boolean;
}

const clients: Client[] = [];
{
  const t0 = performance.now();
  const seeder = await openSeeder(files.configPath);
  // One sign-in (login session) per hundred families, all of the configured user `bench`.
  const BATCH = 100;
  for (let i = 0; i < USERS; i += BATCH) {
    const who = await seeder.signIn('bench', ['developers']);
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, USERS - i) }, () => seeder.mint('prod', who)),
    );
    for (const m of batch) clients.push({ family: m.family.id, token: m.refreshToken, done: 0, busy: false });
  }
  await seeder.close();
  say(`seeded ${clients.length} families in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------- the load

const tokenUrl = new URL('/oidc/token', files.issuer);
const agent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS, maxFreeSockets: SOCKETS });
// kubectl's first attempt: Basic auth with the public client's id and an empty secret.
const authorization = 'Basic ' + Buffer.from('kubernetes:').toString('base64');

interface Minute {
  latencies: number[];
  errors: number;
}
const minutes: Minute[] = [];
let total = 0;
let errors = 0;
let inFlight = 0;
const errorSamples: string[] = [];

function post(body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: tokenUrl.hostname,
        port: tokenUrl.port,
        path: tokenUrl.pathname,
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const t0 = performance.now();
const endAt = t0 + MINUTES * 60_000;

async function refresh(c: Client): Promise<void> {
  c.busy = true;
  inFlight++;
  const started = performance.now();
  const minute = Math.floor((started - t0) / 60_000);
  const m = (minutes[minute] ??= { latencies: [], errors: 0 });
  try {
    const r = await post(`grant_type=refresh_token&refresh_token=${encodeURIComponent(c.token)}`);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    const json = JSON.parse(r.body) as { refresh_token?: string; id_token?: string };
    if (!json.refresh_token || !json.id_token) throw new Error(`no refresh_token/id_token in ${r.body.slice(0, 200)}`);
    c.token = json.refresh_token;
    c.done++;
  } catch (err) {
    errors++;
    m.errors++;
    if (errorSamples.length < 5) errorSamples.push(err instanceof Error ? err.message : String(err));
  } finally {
    total++;
    m.latencies.push(performance.now() - started);
    inFlight--;
    c.busy = false;
  }
}

const jitter = () => INTERVAL_MS * JITTER * (2 * Math.random() - 1);
function schedule(c: Client, at: number): void {
  if (at >= endAt) return;
  setTimeout(() => {
    // A user whose previous refresh is still unanswered waits for it (kubectl runs one at a time).
    if (!c.busy) void refresh(c);
    schedule(c, at + INTERVAL_MS + jitter());
  }, Math.max(0, at - performance.now()));
}
clients.forEach((c, i) => schedule(c, t0 + (i / USERS) * INTERVAL_MS + Math.max(0, jitter())));

// ---------------------------------------------------------------- sampling

interface Sample {
  atMin: number;
  rssKiB: number;
  load: string;
}
const samples: Sample[] = [];
function sample(): void {
  const kib = rssKiB(pid);
  if (kib === undefined) return;
  const atMin = (performance.now() - t0) / 60_000;
  samples.push({ atMin, rssKiB: kib, load: loadavg() });
  say(`  t=${atMin.toFixed(2).padStart(5)} min  RSS ${mib(kib).padStart(7)} MiB  refreshes ${String(total).padStart(7)}  errors ${errors}  in flight ${inFlight}  load ${loadavg()}`);
}
sample();
const sampler = setInterval(sample, RSS_EVERY_MS);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, endAt - performance.now())));
// The last refreshes started before the end: let them finish.
while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 50));
clearInterval(sampler);
sample();
const seconds = (performance.now() - t0) / 1000;
agent.destroy();

// ---------------------------------------------------------------- the chains in the database

interface FamilyState {
  generation: number;
  revoked_at: number | null;
  live: number;
  head_hash: string | null;
  head_generation: number | null;
}

async function readFamilies(): Promise<Map<string, FamilyState>> {
  const sql = `select f.id, f.generation, f.revoked_at,
      (select count(*) from refresh_tokens t where t.family_id = f.id and t.used_at is null) as live,
      (select max(t.hash) from refresh_tokens t where t.family_id = f.id and t.used_at is null) as head_hash,
      (select max(t.generation) from refresh_tokens t where t.family_id = f.id and t.used_at is null) as head_generation
    from families f`;
  type Row = { id: string; generation: number | string; revoked_at: number | string | null; live: number | string; head_hash: string | null; head_generation: number | string | null };
  let rows: Row[];
  if (STORE === 'sqlite') {
    const db = new Database(files.dbPath, { readonly: true, fileMustExist: true });
    try {
      rows = db.prepare(sql).all() as Row[];
    } finally {
      db.close();
    }
  } else {
    const res = await pgAdmin!.query<Row>(sql.replaceAll('refresh_tokens', `${pgSchema}.refresh_tokens`).replaceAll('from families', `from ${pgSchema}.families`));
    rows = res.rows;
  }
  const num = (v: number | string | null) => (v === null ? null : Number(v));
  return new Map(
    rows.map((r) => [
      r.id,
      { generation: Number(r.generation), revoked_at: num(r.revoked_at), live: Number(r.live), head_hash: r.head_hash, head_generation: num(r.head_generation) },
    ]),
  );
}

const families = await readFamilies();
const broken: string[] = [];
for (const c of clients) {
  const f = families.get(c.family);
  const why = !f
    ? 'family missing'
    : f.revoked_at !== null
      ? 'family revoked'
      : f.live !== 1
        ? `${f.live} live tokens`
        : f.head_hash !== hashRefreshToken(c.token)
          ? 'the live token is not the one the client holds'
          : f.generation !== c.done || f.head_generation !== c.done
            ? `generation ${f.generation} (head ${f.head_generation}), client refreshed ${c.done} times`
            : undefined;
  if (why) broken.push(`${c.family}: ${why}`);
}
const rssEnd = rssKiB(pid);
await cleanup();

// ---------------------------------------------------------------- report

say('');
say(`refreshes: ${total} in ${seconds.toFixed(0)} s (${(total / seconds).toFixed(1)}/s; expected ≈ ${(USERS / (INTERVAL_MS / 1000)).toFixed(1)}/s), errors ${errors}`);
for (const s of errorSamples) say(`  error: ${s}`);
say('latency per minute:');
minutes.forEach((m, i) => {
  if (!m) return;
  const sorted = Float64Array.from(m.latencies).sort();
  say(
    `  minute ${String(i + 1).padStart(2)}: ${String(m.latencies.length).padStart(6)} refreshes  p50 ${percentile(sorted, 50).toFixed(2).padStart(6)} ms  p99 ${percentile(sorted, 99).toFixed(2).padStart(7)} ms  errors ${m.errors}${i < WARMUP_MIN ? '  (warm-up)' : ''}`,
  );
});

const afterWarmup = samples.filter((s) => s.atMin >= WARMUP_MIN);
const baseline = afterWarmup.filter((s) => s.atMin < WARMUP_MIN + 1).map((s) => s.rssKiB);
const lastMinute = samples.filter((s) => s.atMin >= MINUTES - 1).map((s) => s.rssKiB);
const base = median(baseline);
const end = median(lastMinute);
const growth = (end - base) / base;
const peak = Math.max(...afterWarmup.map((s) => s.rssKiB));
// Least-squares slope of RSS over the post-warm-up samples, MiB per minute.
const slope = (() => {
  const n = afterWarmup.length;
  if (n < 2) return NaN;
  const mx = afterWarmup.reduce((a, s) => a + s.atMin, 0) / n;
  const my = afterWarmup.reduce((a, s) => a + s.rssKiB, 0) / n;
  const num = afterWarmup.reduce((a, s) => a + (s.atMin - mx) * (s.rssKiB - my), 0);
  const den = afterWarmup.reduce((a, s) => a + (s.atMin - mx) ** 2, 0);
  return num / den / 1024;
})();
say(
  `RSS: start ${mib(samples[0]!.rssKiB)} MiB; after warm-up (median of minute ${WARMUP_MIN}–${WARMUP_MIN + 1}) ${mib(base)} MiB; ` +
    `last minute (median) ${mib(end)} MiB; peak after warm-up ${mib(peak)} MiB; at exit ${rssEnd === undefined ? '-' : mib(rssEnd)} MiB; ` +
    `growth ${(growth * 100).toFixed(1)} %; trend ${slope.toFixed(2)} MiB/min`,
);
say(`load average at the end: ${loadavg()} (${os.cpus().length} CPUs; the machine is shared)`);
say(`chains: ${clients.length - broken.length} of ${clients.length} intact`);
for (const b of broken.slice(0, 10)) say(`  broken: ${b}`);

const goals: Array<[string, boolean]> = [
  [`zero errors (${errors})`, errors === 0],
  [`RSS growth after warm-up < ${RSS_GOAL * 100} % (${(growth * 100).toFixed(1)} %)`, Number.isFinite(growth) && growth < RSS_GOAL],
  [`every family's chain intact (${broken.length} broken)`, broken.length === 0],
];
say('');
for (const [name, ok] of goals) say(`${ok ? 'PASS' : 'MISS'}  ${name}`);
process.exit(goals.every(([, ok]) => ok) ? 0 : 1);
