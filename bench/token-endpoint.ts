/**
 * `npm run bench` — throughput and latency of the BUILT Kubegate issuer on
 * loopback, next to the `oidc-provider` package and to `jose` alone.
 *
 *   npm run bench -- [--alg RS256|ES256] [--sync full|normal] [--count 3000] [--meta-count 20000] [--rounds 3]
 *
 * Requires `npm run build` (never builds). Starts `node scripts/start.mjs`
 * with a temp config, seeds refresh-token families through the library (one
 * chain per load worker: each request sends the refresh_token the previous
 * one returned, as kubectl does), drives POST /oidc/token at concurrency 1,
 * 16 and 64, does the same against oidc-provider's refresh grant (its own
 * process, in-memory adapter), signs the same id_token with jose alone, and
 * drives GET discovery and JWKS. Prints figures and the goals next to them;
 * exits 1 only if a request failed.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalJWKSet, decodeProtectedHeader, generateKeyPair, jwtVerify, type JSONWebKeySet } from 'jose';
import { idTokenClaims, signIdToken } from '../lib/oidc/id-token';
import type { LoginSession, User } from '../lib/store/types';
import { assertBuilt, freePort, KubegateServer, NoBuildError, prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';

// ---------------------------------------------------------------- options

const { values: opt } = parseArgs({
  options: {
    alg: { type: 'string', default: 'RS256' },
    sync: { type: 'string', default: 'full' },
    count: { type: 'string', default: '3000' },
    'meta-count': { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  process.stdout.write('usage: npm run bench -- [--alg RS256|ES256] [--sync full|normal] [--count N] [--meta-count N] [--rounds N]\n');
  process.exit(0);
}
const ALG = opt.alg!.toUpperCase();
const SYNC = opt.sync!.toLowerCase();
const COUNT = Number(opt.count);
const META_COUNT = Number(opt['meta-count']);
/** The refresh comparison runs this many times, alternating servers; the summary takes each phase's median. */
const ROUNDS = Math.max(1, Math.floor(Number(opt.rounds)) || 1);
if ((ALG !== 'RS256' && ALG !== 'ES256') || (SYNC !== 'full' && SYNC !== 'normal') || !(COUNT > 0) || !(META_COUNT > 0)) {
  process.stderr.write('bench: --alg must be RS256 or ES256, --sync full or normal, --count and --meta-count positive numbers\n');
  process.exit(2);
}
const alg = ALG as 'RS256' | 'ES256';
const CONCURRENCIES = [1, 16, 64] as const;
const WARMUP = 300;
const WARMUP_CONCURRENCY = 16;

try {
  assertBuilt();
} catch (err) {
  process.stderr.write(`bench: ${err instanceof NoBuildError ? err.message : String(err)}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------- measurement helpers

interface Phase {
  name: string;
  concurrency: number;
  count: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  errorSamples: string[];
  clientCpu: number;
  serverCpu: number | undefined;
}

const CLK_TCK = 100;
/** utime + stime of a process in seconds (Linux /proc), undefined elsewhere. */
function procCpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Runs `count` calls of `one(worker)` with `concurrency` workers; latencies in ms. */
async function drive(
  name: string,
  concurrency: number,
  count: number,
  one: (worker: number) => Promise<void>,
  serverPid?: number,
): Promise<Phase> {
  const latencies = new Float64Array(count);
  let next = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const cpu0 = process.cpuUsage();
  const srv0 = procCpuSeconds(serverPid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        const s = performance.now();
        try {
          await one(w);
        } catch (err) {
          errors++;
          if (errorSamples.length < 3) errorSamples.push(err instanceof Error ? err.message : String(err));
        }
        latencies[i] = performance.now() - s;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const srv1 = procCpuSeconds(serverPid);
  latencies.sort();
  return {
    name,
    concurrency,
    count,
    seconds,
    rps: count / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    errorSamples,
    clientCpu: (cpu.user + cpu.system) / 1e6 / seconds,
    serverCpu: srv0 !== undefined && srv1 !== undefined ? (srv1 - srv0) / seconds : undefined,
  };
}

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const pct = (n: number | undefined) => (n === undefined ? '   -' : `${fmt(n * 100).padStart(3)}%`);

function printPhase(p: Phase): void {
  process.stdout.write(
    `  ${p.name.padEnd(28)} c=${String(p.concurrency).padEnd(3)} n=${String(p.count).padEnd(6)} ` +
      `${fmt(p.rps).padStart(7)} req/s   p50 ${fmt(p.p50, 2).padStart(7)} ms   p99 ${fmt(p.p99, 2).padStart(7)} ms   ` +
      `errors ${p.errors}   cpu: loadgen ${pct(p.clientCpu)} server ${pct(p.serverCpu)}\n`,
  );
  for (const s of p.errorSamples) process.stdout.write(`      error: ${s.slice(0, 300)}\n`);
}

// ---------------------------------------------------------------- HTTP client

interface Reply {
  status: number;
  body: string;
}

function request(agent: http.Agent, url: URL, method: string, headers: Record<string, string | number>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const newAgent = (c: number) => new http.Agent({ keepAlive: true, maxSockets: c, maxFreeSockets: c });

/** A refresh chain per worker: every request sends the token the previous response returned. */
function refreshWorker(agent: http.Agent, url: URL, chains: string[], headers: Record<string, string>, extra: string) {
  return async (w: number) => {
    const body = `grant_type=refresh_token&refresh_token=${encodeURIComponent(chains[w]!)}${extra}`;
    const r = await request(agent, url, 'POST', { ...headers, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }, body);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    const json = JSON.parse(r.body) as { refresh_token?: string; id_token?: string };
    if (!json.refresh_token || !json.id_token) throw new Error(`no refresh_token/id_token in ${r.body.slice(0, 200)}`);
    chains[w] = json.refresh_token;
  };
}

/**
 * A lean GET generator on raw keep-alive sockets (no http.Agent, minimal
 * parsing): a second opinion that shows how much of the ceiling is the
 * load generator's own cost.
 */
async function leanGets(port: number, pathName: string, concurrency: number, count: number, serverPid?: number): Promise<Phase> {
  const reqBytes = Buffer.from(`GET ${pathName} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  const sockets = await Promise.all(
    Array.from({ length: concurrency }, () => new Promise<net.Socket>((res, rej) => {
      const s = net.connect(port, '127.0.0.1', () => res(s));
      s.setNoDelay(true);
      s.on('error', rej);
    })),
  );
  const conns = sockets.map((s) => {
    let buf = '';
    let waiting: ((r: string) => void) | undefined;
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /content-length: *(\d+)/i.exec(buf.slice(0, end));
      const total = end + 4 + Number(m?.[1] ?? 0);
      if (buf.length < total) return;
      const status = buf.slice(9, 12);
      buf = buf.slice(total);
      const w = waiting;
      waiting = undefined;
      w?.(status);
    });
    return {
      get: () =>
        new Promise<string>((res) => {
          waiting = res;
          s.write(reqBytes);
        }),
    };
  });
  const phase = await drive(`lean GET ${pathName}`, concurrency, count, async (w) => {
    const status = await conns[w]!.get();
    if (status !== '200') throw new Error(`HTTP ${status}`);
  }, serverPid);
  for (const s of sockets) s.destroy();
  return phase;
}

// ---------------------------------------------------------------- the run

const started = performance.now();
const phases: Phase[] = [];
let kubegate: KubegateServer | undefined;
let op: ChildProcess | undefined;

async function cleanup(): Promise<void> {
  op?.kill('SIGTERM');
  await kubegate?.stop();
}
process.once('SIGINT', () => {
  void cleanup().then(() => process.exit(130));
});

async function startOidcProvider(): Promise<{ url: string; child: ChildProcess; seed: (n: number) => Promise<string[]> }> {
  const port = await freePort();
  const child = fork(path.join(import.meta.dirname, 'oidc-provider-server.mjs'), [], {
    env: { ...process.env, NODE_ENV: 'production', OP_PORT: String(port), OP_ALG: alg },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    execArgv: [],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (process.env.OP_DEBUG) process.stderr.write(c);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`oidc-provider did not start:\n${stderr}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`oidc-provider exited (${code}):\n${stderr}`)));
    child.on('message', (m: { type?: string }) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  let seq = 0;
  const seed = (n: number) =>
    new Promise<string[]>((resolve, reject) => {
      const id = ++seq;
      const onMsg = (m: { type?: string; id?: number; tokens?: string[]; error?: string }) => {
        if (m?.id !== id) return;
        child.off('message', onMsg);
        if (m.type === 'seeded') resolve(m.tokens!);
        else reject(new Error(m.error));
      };
      child.on('message', onMsg);
      child.send({ type: 'seed', n, id });
    });
  return { url: `http://127.0.0.1:${port}`, child, seed };
}

async function main(): Promise<number> {
  process.stdout.write(
    `Kubegate token endpoint bench — alg ${alg}, sqlite synchronous=${SYNC}, ${COUNT} refreshes per phase, ` +
      `${META_COUNT} GETs per metadata phase\n` +
      `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, load average ${loadavg()}; ` +
      'server and load generator share these cores (other work on the machine skews the figures)\n\n',
  );

  // ---- Kubegate
  // Each load worker refreshes one credential hundreds of times a second:
  // far past the per-credential rate limit, which the bench does not measure.
  const unlimited = { burst: 1_000_000, per_minute: 1_000_000 };
  const server = { token_rate_limit: { per_credential: unlimited, per_address_failures: unlimited } };
  const files = await prepareKubegate({ alg, synchronous: SYNC as 'full' | 'normal', idTokenLifetime: 60, reuseGrace: 10, server }, 'kubegate-bench-');
  kubegate = new KubegateServer(files);
  await kubegate.start();
  const kgPid = kubegate.pid;
  const seeder = await openSeeder(files.configPath);
  const who = await seeder.signIn('bench', ['developers']);
  const kgChains = new Map<number, string[]>();
  for (const [slot, c] of [[-1, WARMUP_CONCURRENCY], ...CONCURRENCIES.map((n) => [n, n])] as [number, number][]) {
    const list: string[] = [];
    for (let i = 0; i < c; i++) list.push((await seeder.mint('prod', who)).refreshToken);
    kgChains.set(slot, list);
  }
  await seeder.close();
  const kgToken = new URL('/oidc/token', files.issuer);
  // kubectl's request shape: Basic with the urlencoded id and an empty secret, no client_id in the form.
  const kgHeaders = { authorization: 'Basic ' + Buffer.from('kubernetes:').toString('base64') };

  // Sanity: one refresh, verified against the JWKS.
  {
    const agent = newAgent(1);
    const chains = [kgChains.get(-1)![0]!];
    const probe = await request(agent, kgToken, 'POST', { ...kgHeaders, 'content-type': 'application/x-www-form-urlencoded' }, `grant_type=refresh_token&refresh_token=${chains[0]}`);
    if (probe.status !== 200) throw new Error(`Kubegate refresh failed: ${probe.status} ${probe.body}`);
    const jwks = createLocalJWKSet(JSON.parse((await request(agent, new URL('/oidc/jwks', files.issuer), 'GET', {})).body) as JSONWebKeySet);
    await jwtVerify((JSON.parse(probe.body) as { id_token: string }).id_token, jwks, { issuer: files.issuer, audience: 'kubernetes', algorithms: [alg] });
    kgChains.get(-1)![0] = (JSON.parse(probe.body) as { refresh_token: string }).refresh_token;
    agent.destroy();
  }

  // ---- oidc-provider
  const provider = await startOidcProvider();
  op = provider.child;
  const opToken = new URL('/token', provider.url);
  // Seeded right before each phase: its in-memory adapter is an LRU of 1000
  // entries, so tokens seeded early would be evicted by the phases before.
  const opChains = new Map<number, string[]>();
  opChains.set(-1, await provider.seed(WARMUP_CONCURRENCY));
  {
    const agent = newAgent(1);
    const chains = opChains.get(-1)!;
    const body = `grant_type=refresh_token&refresh_token=${chains[0]}&client_id=kubernetes`;
    const probe = await request(agent, opToken, 'POST', { 'content-type': 'application/x-www-form-urlencoded' }, body);
    if (probe.status !== 200) throw new Error(`oidc-provider refresh failed: ${probe.status} ${probe.body}`);
    const json = JSON.parse(probe.body) as { id_token: string; refresh_token: string };
    if (decodeProtectedHeader(json.id_token).alg !== alg) throw new Error('oidc-provider signed with another alg');
    chains[0] = json.refresh_token;
    agent.destroy();
  }

  // ---- warm both up (JIT, connection pools), unmeasured
  process.stdout.write('warming up…\n');
  {
    const a = newAgent(WARMUP_CONCURRENCY);
    await drive('warmup', WARMUP_CONCURRENCY, WARMUP, refreshWorker(a, kgToken, kgChains.get(-1)!, kgHeaders, ''));
    a.destroy();
    const b = newAgent(WARMUP_CONCURRENCY);
    await drive('warmup', WARMUP_CONCURRENCY, WARMUP, refreshWorker(b, opToken, opChains.get(-1)!, {}, '&client_id=kubernetes'));
    b.destroy();
  }

  process.stdout.write(
    '\nPOST refresh grant (each request sends the unused token the previous one returned, one chain per worker;\n' +
      `Kubegate commits each rotation + audit row to SQLite (synchronous=${SYNC}), oidc-provider keeps its state in memory):\n`,
  );
  // Machines like this one are noisy: alternate the two servers phase by
  // phase, repeat, and summarize each phase by its median round.
  const kgRounds = new Map<number, Phase[]>(CONCURRENCIES.map((c) => [c, []]));
  const opRounds = new Map<number, Phase[]>(CONCURRENCIES.map((c) => [c, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    if (ROUNDS > 1) process.stdout.write(`  round ${round} of ${ROUNDS}\n`);
    for (const c of CONCURRENCIES) {
      const a = newAgent(c);
      const k = await drive('Kubegate /oidc/token', c, COUNT, refreshWorker(a, kgToken, kgChains.get(c)!, kgHeaders, ''), kgPid);
      a.destroy();
      printPhase(k);
      opChains.set(c, await provider.seed(c));
      const b = newAgent(c);
      const o = await drive('oidc-provider /token', c, COUNT, refreshWorker(b, opToken, opChains.get(c)!, {}, '&client_id=kubernetes'), provider.child.pid);
      b.destroy();
      printPhase(o);
      process.stdout.write(`  → Kubegate / oidc-provider at c=${c}: ${fmt(k.rps / o.rps, 2)}×\n`);
      kgRounds.get(c)!.push(k);
      opRounds.get(c)!.push(o);
      phases.push(k, o);
    }
  }
  const median = (list: Phase[]) => [...list].sort((x, y) => x.rps - y.rps)[Math.floor(list.length / 2)]!;
  const kg = new Map(CONCURRENCIES.map((c) => [c, median(kgRounds.get(c)!)]));
  const opp = new Map(CONCURRENCIES.map((c) => [c, median(opRounds.get(c)!)]));
  if (ROUNDS > 1) process.stdout.write(`  (the summary below takes the median of ${ROUNDS} rounds for each phase)\n`);
  provider.child.kill('SIGTERM');
  op = undefined;

  // ---- jose alone, same claims and key type, in this process with both servers idle
  process.stdout.write(`\njose alone (SignJWT of the same id_token claims, ${alg}):\n`);
  const { privateKey } = await generateKeyPair(alg, { modulusLength: 2048 });
  const now = Date.now();
  const user: User = {
    id: randomUUID(), upstream: 'local', subject: 'bench', username: 'bench', email: 'bench@example.com', name: 'Test bench',
    groups: ['developers'], created_at: now, updated_at: now,
  };
  const session: LoginSession = {
    id: randomUUID(), user_id: user.id, upstream: 'local', amr: ['pwd'], auth_time: now, created_at: now, expires_at: now + 12 * 3600_000,
    revoked_at: null, revoke_reason: null, client_ip: null, user_agent: null, last_seen_at: now,
  };
  const key = { kid: 'x'.repeat(43), alg, key: privateKey };
  const sign = async () => {
    await signIdToken(idTokenClaims({ issuer: files.issuer, audience: 'kubernetes', user, session, now: Date.now(), lifetimeSeconds: 60 })!, key);
  };
  await drive('warmup', 16, 200, sign);
  const joseSerial = await drive('jose SignJWT serial', 1, COUNT, sign);
  printPhase(joseSerial);
  const jose16 = await drive('jose SignJWT 16 in flight', 16, COUNT, sign);
  printPhase(jose16);
  phases.push(joseSerial, jose16);
  const kg16 = kg.get(16)!;
  process.stdout.write(
    `  → Kubegate c=16 refresh throughput = ${fmt((kg16.rps / joseSerial.rps) * 100)} % of jose serial, ` +
      `${fmt((kg16.rps / jose16.rps) * 100)} % of jose with 16 in flight\n`,
  );

  // ---- metadata GETs
  process.stdout.write(`\nGET metadata at c=64 (goal ≥ 10 000 req/s):\n`);
  const meta: Phase[] = [];
  for (const p of ['/.well-known/openid-configuration', '/oidc/jwks']) {
    const a = newAgent(64);
    const url = new URL(p, files.issuer);
    await drive('warmup', 64, 2000, async () => {
      const r = await request(a, url, 'GET', {});
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    });
    const ph = await drive(`GET ${p}`, 64, META_COUNT, async () => {
      const r = await request(a, url, 'GET', {});
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    }, kgPid);
    a.destroy();
    printPhase(ph);
    const lean = await leanGets(files.port, p, 64, META_COUNT, kgPid);
    printPhase(lean);
    meta.push(ph, lean);
    phases.push(ph, lean);
  }
  const loadgenBound = meta.some((m) => m.clientCpu >= 0.85 && m.rps < 10_000);
  if (loadgenBound) {
    process.stdout.write(
      '  note: the node:http load generator uses ~a full core of the 2 here, as does the server: the figures above are bounded by the\n' +
        '        load generator sharing the machine (see "loadgen" CPU), not only by the server. The lean raw-socket generator shows the\n' +
        '        server with less client overhead.\n',
    );
  }
  const wrk = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((f) => fs.existsSync(f));
  if (wrk) {
    for (const p of ['/.well-known/openid-configuration', '/oidc/jwks']) {
      const out = await new Promise<string>((resolve) => {
        const child = spawn(wrk, ['-t1', '-c64', '-d5s', new URL(p, files.issuer).href]);
        let s = '';
        child.stdout.on('data', (c: Buffer) => (s += c.toString()));
        child.on('exit', () => resolve(s));
      });
      const rps = /Requests\/sec:\s*([\d.]+)/.exec(out)?.[1];
      process.stdout.write(`  wrk GET ${p}: ${rps ?? '?'} req/s\n`);
    }
  } else {
    process.stdout.write('  wrk: not installed (/usr/bin/wrk absent); figures are from the Node generators only\n');
  }

  await kubegate.stop();
  kubegate = undefined;

  // ---- summary
  const elapsed = (performance.now() - started) / 1000;
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const ratio16 = kg16.rps / opp.get(16)!.rps;
  const totalErrors = phases.reduce((n, p) => n + p.errors, 0);
  const lines: [string, string, string][] = [];
  for (const c of CONCURRENCIES) {
    const k = kg.get(c)!;
    const o = opp.get(c)!;
    lines.push([
      `refresh c=${c}`,
      `Kubegate ${fmt(k.rps)} req/s (p50 ${fmt(k.p50, 1)} / p99 ${fmt(k.p99, 1)} ms) | oidc-provider ${fmt(o.rps)} req/s (p50 ${fmt(o.p50, 1)} / p99 ${fmt(o.p99, 1)} ms) | ${fmt(k.rps / o.rps, 2)}×`,
      c === 16 ? `${alg === 'RS256' ? '≥ 1.4×' : '≥ 2×'}: ${mark(ratio16 >= (alg === 'RS256' ? 1.4 : 2))}; p99 < 30 ms: ${mark(k.p99 < 30)}` : '',
    ]);
  }
  lines.push([
    'vs jose alone',
    `serial ${fmt(joseSerial.rps)} sig/s, 16 in flight ${fmt(jose16.rps)} sig/s; Kubegate c=16 = ${fmt((kg16.rps / joseSerial.rps) * 100)} % / ${fmt((kg16.rps / jose16.rps) * 100)} %`,
    alg === 'RS256' ? `≥ 70 % of jose (16 in flight): ${mark(kg16.rps / jose16.rps >= 0.7)}` : '',
  ]);
  for (const m of meta) lines.push([m.name.replace('/.well-known/openid-configuration', 'discovery').replace('/oidc/jwks', 'JWKS'), `${fmt(m.rps)} req/s at c=64 (loadgen cpu ${pct(m.clientCpu)}, server ${pct(m.serverCpu)})`, `≥ 10 000/s: ${mark(m.rps >= 10_000)}`]);
  lines.push(['errors', String(totalErrors), `zero: ${mark(totalErrors === 0)}`]);
  lines.push(['wall time', `${fmt(elapsed, 1)} s (load average now ${loadavg()})`, '≤ ~180 s']);

  process.stdout.write(`\nSummary — ${alg}, synchronous=${SYNC}\n`);
  const w0 = Math.max(...lines.map((l) => l[0].length));
  for (const [a, b, c] of lines) process.stdout.write(`  ${a.padEnd(w0)}  ${b}${c ? `   [goal ${c}]` : ''}\n`);
  return totalErrors > 0 ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (kubegate) process.stderr.write(`--- server output ---\n${kubegate.tail()}\n`);
    await cleanup();
    process.exit(1);
  },
);
