/**
 * `npm run bench -- replicas`: two Kubegate processes on one PostgreSQL
 * schema (created for the run and dropped after), the refresh load split
 * between them (worker w refreshes through replica w mod 2), against one
 * Kubegate process on SQLite (synchronous=full), alternating. Both
 * replicas run on the server core (the same CPU budget as the single
 * process); PostgreSQL itself is the machine's and is not pinned: the bench
 * cannot pin a shared server. It measures it instead: the CPU time of this
 * run's backends (found by application_name) per refresh, and on which core
 * they ran (sampled), printed under each PostgreSQL phase.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';
import { BenchServer, drive, fmt, KUBECTL_AUTH, loadavg, median, procCpuSeconds, openConnections, printPhase, refreshWorker, UNLIMITED_CREDENTIAL, type GoalRow, type Phase, type Placement } from './common';

export const REPLICAS_USAGE = `npm run bench -- replicas [--pg-url URL] [--alg ES256|RS256] [--count N] [--rounds N] [--concurrency 16] [--pool-size N] [--server-entry PATH]
  --pg-url       PostgreSQL to use (default $KUBEGATE_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test);
                 a schema kubegate_bench_* is created for the run and dropped after
  --alg          signing algorithm (default ES256)
  --count        refreshes per phase (default 4000)
  --rounds       rounds, alternating the two set-ups (default 3; medians compared)
  --concurrency  load workers in all (default 16), split between the replicas
  --pool-size    storage.postgres.pool_size of each replica (default: the config's default)
  --server-entry another build's dist/server.mjs to run as the two replicas (A/B comparisons of the
                 PostgreSQL path; the SQLite process stays this checkout's build)
`;

export async function runReplicas(argv: string[], where: Placement): Promise<GoalRow[]> {
  const { values: opt } = parseArgs({
    args: argv,
    options: {
      'pg-url': { type: 'string', default: process.env.KUBEGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
      alg: { type: 'string', default: 'ES256' },
      count: { type: 'string', default: '4000' },
      rounds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
      'pool-size': { type: 'string' },
      'server-entry': { type: 'string' },
    },
  });
  const alg = opt.alg!.toUpperCase() === 'RS256' ? 'RS256' : 'ES256';
  const count = Number(opt.count);
  const rounds = Math.max(1, Math.floor(Number(opt.rounds)) || 1);
  const c = Math.max(2, Math.floor(Number(opt.concurrency) / 2) * 2);
  process.stdout.write(
    `\n== replicas: two Kubegate processes on one PostgreSQL schema vs one on SQLite (synchronous=full), ${alg}, c=${c}\n   ${where.describe}\n`,
  );

  const admin = new pg.Pool({ connectionString: opt['pg-url'], max: 1, connectionTimeoutMillis: 3000 });
  admin.on('error', () => {});
  const schema = `kubegate_bench_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query(`create schema ${schema}`);
  } catch (err) {
    await admin.end();
    throw new Error(`PostgreSQL is not reachable at ${opt['pg-url']} (${(err as Error).message})`);
  }
  const servers: BenchServer[] = [];
  try {
    const url = new URL(opt['pg-url']!);
    url.searchParams.set('options', `-c search_path=${schema}`);
    // The connection string's application_name wins over the store's: this run's backends are found by it.
    url.searchParams.set('application_name', schema);
    const pgConfig = { url: url.toString(), ...(opt['pool-size'] ? { pool_size: Number(opt['pool-size']) } : {}) };
    const unlimited = { token_rate_limit: { per_credential: UNLIMITED_CREDENTIAL, per_address_failures: UNLIMITED_CREDENTIAL } };
    const setup = { alg, idTokenLifetime: 60, reuseGrace: 10, server: unlimited } as const;
    const a = await prepareKubegate({ ...setup, postgres: pgConfig }, 'kubegate-bench-pg-a-');
    const b = await prepareKubegate({ ...setup, postgres: pgConfig }, 'kubegate-bench-pg-b-');
    // Replicas share the key-encryption key, as pods share the Secret.
    fs.copyFileSync(path.join(a.dir, 'kubegate.key'), path.join(b.dir, 'kubegate.key'));
    const lite = await prepareKubegate({ ...setup, synchronous: 'full' }, 'kubegate-bench-lite-');
    const entry = opt['server-entry'];
    const ra = new BenchServer(a, { core: where.serverCore, entry });
    const rb = new BenchServer(b, { core: where.serverCore, entry });
    // The reference stays this checkout's build: --server-entry swaps only the PostgreSQL side.
    const one = new BenchServer(lite, { core: where.serverCore });
    servers.push(ra, rb, one);
    // One after the other: the first makes the signing key, the second finds it.
    await ra.start();
    await rb.start();
    await one.start();

    const seed = async (configPath: string) => {
      const seeder = await openSeeder(configPath);
      const who = await seeder.signIn('bench', ['developers']);
      const chains: string[] = [];
      for (let i = 0; i < c; i++) chains.push((await seeder.mint('prod', who)).refreshToken);
      await seeder.close();
      return chains;
    };
    const pgChains = await seed(a.configPath);
    const liteChains = await seed(lite.configPath);
    const pgTargets = [ra, rb].map((r) => ({ host: r.host, path: '/oidc/token', headers: KUBECTL_AUTH }));
    const liteTarget = [{ host: one.host, path: '/oidc/token', headers: KUBECTL_AUTH }];
    // Connections are opened for each phase and closed after it: one left idle while the other
    // set-up runs may be closed by the server meanwhile (and a request on it never answered).
    const pgPhase = async (name: string, n: number) => {
      const conns = [await openConnections(a.port, c / 2), await openConnections(b.port, c / 2)];
      try {
        return await drive(name, c, n, refreshWorker(conns, pgTargets, pgChains), [ra.pid, rb.pid]);
      } finally {
        conns.flat().forEach((x) => x.close());
      }
    };
    const litePhase = async (name: string, n: number) => {
      const conns = [await openConnections(lite.port, c)];
      try {
        return await drive(name, c, n, refreshWorker(conns, liteTarget, liteChains), [one.pid]);
      } finally {
        conns.flat().forEach((x) => x.close());
      }
    };
    await pgPhase('warmup', 1000);
    await litePhase('warmup', 1000);

    const pgRounds: Phase[] = [];
    const liteRounds: Phase[] = [];
    for (let round = 1; round <= rounds; round++) {
      const l = await litePhase('one process, SQLite', count);
      printPhase(l);
      liteRounds.push(l);
      const watch = await watchBackends(admin, schema);
      const p = await pgPhase('two replicas, PostgreSQL', count);
      const server = watch.stop();
      printPhase(p);
      process.stdout.write(`  ${describeBackends(server, p)}\n`);
      pgRounds.push(p);
      process.stdout.write(`  → two replicas on PostgreSQL / one process on SQLite: ${fmt(p.rps / l.rps, 2)}×\n`);
    }
    const p = median(pgRounds);
    const l = median(liteRounds);
    const errors = [...pgRounds, ...liteRounds].reduce((n, x) => n + x.errors, 0);
    process.stdout.write(`  load average ${loadavg()}\n`);
    return [
      { goal: 'two replicas on PostgreSQL ≥ 0.8× one process on SQLite', measured: `${fmt(p.rps)}/s vs ${fmt(l.rps)}/s`, ratio: p.rps / l.rps, pass: p.rps / l.rps >= 0.8 },
      { goal: 'replicas: zero errors', measured: `${errors} errors`, pass: errors === 0 },
    ];
  } catch (err) {
    for (const s of servers) process.stderr.write(`--- ${s.host} ---\n${s.tail(15)}\n`);
    throw err;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await admin.query(`drop schema if exists ${schema} cascade`).catch(() => {});
    await admin.end();
  }
}

/** What this run's PostgreSQL backends did during a phase. */
interface BackendUse {
  backends: number;
  /** Their CPU time over the phase, in seconds. */
  cpuSeconds: number;
  /** Samples (every 10 ms) of a backend running, by the core it ran on. */
  runningOn: Map<number, number>;
  /** Cpus_allowed_list of the first backend: the server's pinning, if any. */
  allowed: string;
}

/**
 * Starts watching the backends serving this run (application_name = the
 * schema): their CPU time, and on which core each running one was seen, from
 * /proc (PostgreSQL runs on this machine in the bench's set-up; elsewhere
 * the figures are simply absent).
 */
async function watchBackends(admin: pg.Pool, appName: string): Promise<{ stop(): BackendUse }> {
  const pids = (await admin.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [appName])).rows.map((r) => r.pid);
  const cpu = () => pids.reduce((sum, pid) => sum + (procCpuSeconds(pid) ?? 0), 0);
  const runningOn = new Map<number, number>();
  const sample = () => {
    for (const pid of pids) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // fields[0] is the state (field 3 of stat), fields[36] the core it last ran on (field 39).
        if (fields[0] === 'R') runningOn.set(Number(fields[36]), (runningOn.get(Number(fields[36])) ?? 0) + 1);
      } catch {
        // gone
      }
    }
  };
  let allowed = 'unknown';
  try {
    allowed = /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync(`/proc/${pids[0]}/status`, 'utf8'))?.[1] ?? 'unknown';
  } catch {
    // not on this machine
  }
  const cpu0 = cpu();
  const timer = setInterval(sample, 10);
  return {
    stop() {
      clearInterval(timer);
      return { backends: pids.length, cpuSeconds: cpu() - cpu0, runningOn, allowed };
    },
  };
}

function describeBackends(u: BackendUse, p: Phase): string {
  if (u.backends === 0) return 'PostgreSQL backends: none found (another machine?)';
  const samples = [...u.runningOn.values()].reduce((a, b) => a + b, 0);
  const where = [...u.runningOn].sort((x, y) => x[0] - y[0]).map(([core, n]) => `core ${core} ${fmt((100 * n) / Math.max(1, samples))}%`).join(', ');
  return (
    `PostgreSQL: ${u.backends} backends (cores allowed: ${u.allowed}), cpu ${fmt((100 * u.cpuSeconds) / p.seconds)}% = ${fmt((u.cpuSeconds * 1e6) / p.count)} µs/req; ` +
    `seen running on ${where || 'no core (no sample)'}`
  );
}
