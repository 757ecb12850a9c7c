/**
 * What the bench modes share (bench/run.ts dispatches to them): core
 * pinning, a lean keep-alive HTTP/1.1 load generator, the closed-loop
 * driver and its figures, starting the BUILT Kubegate server (and the
 * oidc-provider peer) on chosen cores, and the goal table.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { assertBuilt, freePort, PROJECT_DIR, type KubegateFiles } from '../test/http/support/kubegate';

// ---------------------------------------------------------------- cores

/** The cores the machine offers this process. */
export const CPU_COUNT = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

function tasksetPath(): string | undefined {
  return ['/usr/bin/taskset', '/bin/taskset', '/usr/local/bin/taskset'].find((f) => fs.existsSync(f));
}

/**
 * Where servers and load generators run: with two cores or more and
 * `taskset`, servers on core 0 and every load generator on core 1;
 * otherwise unpinned, and the figures say so.
 */
export interface Placement {
  pinned: boolean;
  serverCore: number | undefined;
  loadCore: number | undefined;
  describe: string;
}

export function placement(wantPinned = true): Placement {
  const taskset = tasksetPath();
  if (wantPinned && taskset && CPU_COUNT >= 2) {
    return { pinned: true, serverCore: 0, loadCore: 1, describe: `pinned: servers on core 0, load generators on core 1 (taskset, ${CPU_COUNT} cores)` };
  }
  const why = !wantPinned ? '--unpinned' : !taskset ? 'no taskset here' : `${CPU_COUNT} core(s)`;
  return { pinned: false, serverCore: undefined, loadCore: undefined, describe: `unpinned (${why}): servers and load generators share the cores` };
}

/** Pins every thread of `pid` (and the threads it starts later) to `core`. */
export function pin(pid: number | undefined, core: number | undefined): void {
  const taskset = tasksetPath();
  if (pid === undefined || core === undefined || !taskset) return;
  execFileSync(taskset, ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

/** Lets every thread of `pid` run on every core again. */
export function unpin(pid: number | undefined): void {
  const taskset = tasksetPath();
  if (pid === undefined || !taskset || CPU_COUNT < 2) return;
  execFileSync(taskset, ['-a', '-p', '-c', `0-${CPU_COUNT - 1}`, String(pid)], { stdio: 'ignore' });
}

// ---------------------------------------------------------------- figures

export interface Phase {
  name: string;
  concurrency: number;
  count: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  errorSamples: string[];
  /** CPU share of the servers' processes over the phase (1 = one core), when known. */
  serverCpu: number | undefined;
}

const CLK_TCK = 100;
/** utime + stime of a process in seconds (Linux /proc), undefined elsewhere. */
export function procCpuSeconds(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

function cpuOf(pids: readonly (number | undefined)[]): number | undefined {
  let sum = 0;
  for (const p of pids) {
    const s = procCpuSeconds(p);
    if (s === undefined) return undefined;
    sum += s;
  }
  return sum;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Closed loop: `concurrency` workers each call `one(worker)` back to back
 * until `count` calls were made; latencies in ms.
 */
export async function drive(
  name: string,
  concurrency: number,
  count: number,
  one: (worker: number) => Promise<void>,
  serverPids: readonly (number | undefined)[] = [],
): Promise<Phase> {
  const latencies = new Float64Array(count);
  let next = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const srv0 = cpuOf(serverPids);
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
  const srv1 = cpuOf(serverPids);
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
    serverCpu: srv0 !== undefined && srv1 !== undefined && serverPids.length > 0 ? (srv1 - srv0) / seconds : undefined,
  };
}

export const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const pct = (n: number | undefined) => (n === undefined ? '   -' : `${fmt(n * 100).padStart(3)}%`);
export const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

export function printPhase(p: Phase, out: (s: string) => void = (s) => process.stdout.write(s)): void {
  out(
    `  ${p.name.padEnd(34)} c=${String(p.concurrency).padEnd(3)} n=${String(p.count).padEnd(6)} ` +
      `${fmt(p.rps).padStart(6)} req/s   p50 ${fmt(p.p50, 2).padStart(6)} ms   p99 ${fmt(p.p99, 2).padStart(7)} ms   ` +
      `errors ${p.errors}   server cpu ${pct(p.serverCpu)}${p.serverCpu === undefined ? '' : ` = ${fmt((p.serverCpu * 1e6) / p.rps)} µs/req`}\n`,
  );
  for (const s of p.errorSamples) out(`      error: ${s.slice(0, 300)}\n`);
}

/** The median phase by throughput (rounds alternate servers on a noisy machine). */
export const median = (list: Phase[]) => [...list].sort((x, y) => x.rps - y.rps)[Math.floor(list.length / 2)]!;

// ---------------------------------------------------------------- lean HTTP/1.1 client

export interface Reply {
  status: number;
  body: string;
}

/**
 * One keep-alive connection, one request at a time, with a pre-built
 * request head and minimal response parsing (content-length or chunked):
 * the generator costs a fraction of what node:http's client does, so a
 * single load core can outrun one server core.
 */
export class LeanConnection {
  private buf = '';
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(port: number, localAddress?: string): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => resolve(new LeanConnection(s)));
      s.once('error', reject);
    });
  }

  private fail(err: Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }

  private onData(d: string): void {
    this.buf += d;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.slice(0, end);
      const m = /\r\ncontent-length: *(\d+)/i.exec(head);
      let body: string;
      let rest: string;
      if (m) {
        const total = end + 4 + Number(m[1]);
        if (this.buf.length < total) return;
        body = this.buf.slice(end + 4, total);
        rest = this.buf.slice(total);
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const term = this.buf.indexOf('\r\n0\r\n\r\n', end);
        if (term < 0) return;
        body = '';
        let i = end + 4;
        while (i < term + 2) {
          const nl = this.buf.indexOf('\r\n', i);
          const size = parseInt(this.buf.slice(i, nl), 16);
          if (!(size > 0)) break;
          body += this.buf.slice(nl + 2, nl + 2 + size);
          i = nl + 2 + size + 2;
        }
        rest = this.buf.slice(term + 7);
      } else {
        body = '';
        rest = this.buf.slice(end + 4);
      }
      this.buf = rest;
      const w = this.waiting;
      this.waiting = undefined;
      // latin1 on the wire; the bodies here are ASCII JSON.
      w?.resolve({ status: Number(head.slice(9, 12)), body });
    }
  }

  send(raw: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(raw, 'latin1');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export function formPost(host: string, pathName: string, body: string, headers: Record<string, string> = {}): string {
  let head = `POST ${pathName} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return head + '\r\n' + body;
}

/** Opens `n` connections. */
export function openConnections(port: number, n: number, localAddress?: string): Promise<LeanConnection[]> {
  return Promise.all(Array.from({ length: n }, () => LeanConnection.open(port, localAddress)));
}

/**
 * A refresh chain per worker, as kubectl does: every request sends the
 * refresh token the previous response returned. `conns[w % conns.length]`
 * carries worker w (replicas: workers alternate between servers).
 */
export function refreshWorker(
  conns: LeanConnection[][],
  target: { host: string; path: string; headers?: Record<string, string>; extra?: string }[],
  chains: string[],
) {
  return async (w: number) => {
    const t = w % target.length;
    const server = target[t]!;
    const conn = conns[t]![Math.floor(w / target.length)]!;
    const body = `grant_type=refresh_token&refresh_token=${encodeURIComponent(chains[w]!)}${server.extra ?? ''}`;
    const r = await conn.send(formPost(server.host, server.path, body, server.headers));
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    const m = /"refresh_token":"([^"]+)"/.exec(r.body);
    if (!m || !r.body.includes('"id_token":"')) throw new Error(`no refresh_token/id_token in ${r.body.slice(0, 200)}`);
    chains[w] = m[1]!;
  };
}

// ---------------------------------------------------------------- servers

/** kubectl's request shape for Kubegate: Basic with the urlencoded id and an empty secret, no client_id in the form. */
export const KUBECTL_AUTH = { authorization: 'Basic ' + Buffer.from('kubernetes:').toString('base64') };

/** Far past the per-credential limit: each load worker refreshes one credential hundreds of times a second. */
export const UNLIMITED_CREDENTIAL = { burst: 1_000_000, per_minute: 1_000_000 };

/** The BUILT Kubegate server, started with optional node flags (profiling) and pinned to a core. */
export class BenchServer {
  private child: ChildProcess | undefined;
  private output: string[] = [];

  constructor(
    readonly files: KubegateFiles,
    private readonly opts: { core?: number; nodeArgs?: string[]; env?: Record<string, string>; entry?: string } = {},
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get host(): string {
    return `127.0.0.1:${this.files.port}`;
  }

  tail(lines = 30): string {
    return this.output.join('').split('\n').slice(-lines).join('\n');
  }

  async start(timeoutMs = 90_000): Promise<void> {
    assertBuilt();
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (/^(VITEST|__VITEST|TSX|NODE_OPTIONS$|NODE_ENV$)/.test(k)) delete env[k];
    Object.assign(env, { PORT: String(this.files.port), HOST: '127.0.0.1', KUBEGATE_CONFIG: this.files.configPath, NEXT_TELEMETRY_DISABLED: '1', ...this.opts.env });
    // `entry`: another build's dist/server.mjs (A/B runs); it needs NODE_ENV, which start.mjs sets otherwise.
    if (this.opts.entry) Object.assign(env, { NODE_ENV: 'production' });
    const entry = this.opts.entry ? path.resolve(this.opts.entry) : 'scripts/start.mjs';
    const child = spawn(process.execPath, [...(this.opts.nodeArgs ?? []), entry], { cwd: PROJECT_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // Audit lines arrive on stdout at the refresh rate: keep only a tail, cheaply.
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString('utf8'));
      if (this.output.length > 64) this.output.splice(0, 32);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    pin(child.pid, this.opts.core);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kubegate exited during start-up:\n${this.tail()}`);
      try {
        const res = await fetch(`http://${this.host}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`kubegate did not answer /healthz within ${timeoutMs} ms:\n${this.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // Threads started since the first pin (the writer thread, the pool) follow the process's mask; pin again to be sure.
    pin(child.pid, this.opts.core);
  }

  async stop(opts: { keepFiles?: boolean } = {}): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    }
    if (!opts.keepFiles) fs.rmSync(this.files.dir, { recursive: true, force: true });
  }
}

/** oidc-provider's refresh grant in its own process (bench/oidc-provider-server.mjs), pinned like Kubegate. */
export interface PeerServer {
  port: number;
  host: string;
  child: ChildProcess;
  seed(n: number): Promise<string[]>;
  stop(): void;
}

export async function startOidcProvider(alg: 'RS256' | 'ES256', core: number | undefined): Promise<PeerServer> {
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
  pin(child.pid, core);
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
  return { port, host: `127.0.0.1:${port}`, child, seed, stop: () => void child.kill('SIGTERM') };
}

// ---------------------------------------------------------------- goals

/** One line of the summary: a goal of the issue, what was measured, and whether it was met. */
export interface GoalRow {
  goal: string;
  measured: string;
  /** The measured ratio (or value) the goal compares, when there is one. */
  ratio?: number;
  pass: boolean | undefined;
}

export function printGoals(rows: GoalRow[], out: (s: string) => void = (s) => process.stdout.write(s)): void {
  const w0 = Math.max(4, ...rows.map((r) => r.goal.length));
  const w1 = Math.max(8, ...rows.map((r) => r.measured.length));
  const line = (a: string, b: string, c: string, d: string) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c.padStart(7)}  ${d}\n`;
  out(line('goal', 'measured', 'ratio', 'result'));
  out(line('-'.repeat(w0), '-'.repeat(w1), '-------', '------'));
  for (const r of rows) out(line(r.goal, r.measured, r.ratio === undefined ? '' : `${fmt(r.ratio, 2)}×`, r.pass === undefined ? '-' : r.pass ? 'PASS' : 'MISS'));
}

/**
 * Modes run as their own programs (pages, soak) report goals by appending
 * JSON lines (GoalRow) to the file named by BENCH_GOALS_FILE.
 */
export function reportGoals(rows: GoalRow[]): void {
  const file = process.env.BENCH_GOALS_FILE;
  if (file) fs.appendFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** GET a page as a browser would ask for HTML, with the session cookie when given; resolves with the status. */
export function getPage(agent: http.Agent, url: URL, cookie: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: url.hostname, port: url.port, path: url.pathname, headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

export { freePort, PROJECT_DIR };
