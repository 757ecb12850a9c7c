/**
 * `npm run bench -- replicas`: two Kubegate processes on one PostgreSQL
 * schema (created for the run and dropped after), the refresh load split
 * between them (worker w refreshes through replica w mod 2), against one
 * Kubegate process on SQLite (synchronous=full), alternating. Both
 * replicas run on the server core (the same CPU budget as the single
 * process); PostgreSQL itself is the machine's and is not pinned.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';
import { BenchServer, drive, fmt, KUBECTL_AUTH, median, openConnections, printPhase, refreshWorker, UNLIMITED_CREDENTIAL, type GoalRow, type Phase, type Placement } from './common';

export const REPLICAS_USAGE = `npm run bench -- replicas [--pg-url URL] [--alg ES256|RS256] [--count N] [--rounds N] [--concurrency 16]
  --pg-url       PostgreSQL to use (default $KUBEGATE_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test);
                 a schema kubegate_bench_* is created for the run and dropped after
  --alg          signing algorithm (default ES256)
  --count        refreshes per phase (default 4000)
  --rounds       rounds, alternating the two set-ups (default 3; medians compared)
  --concurrency  load workers in all (default 16), split between the replicas
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
    const unlimited = { token_rate_limit: { per_credential: UNLIMITED_CREDENTIAL, per_address_failures: UNLIMITED_CREDENTIAL } };
    const setup = { alg, idTokenLifetime: 60, reuseGrace: 10, server: unlimited } as const;
    const a = await prepareKubegate({ ...setup, postgres: { url: url.toString(), pool_size: 10 } }, 'kubegate-bench-pg-a-');
    const b = await prepareKubegate({ ...setup, postgres: { url: url.toString(), pool_size: 10 } }, 'kubegate-bench-pg-b-');
    // Replicas share the key-encryption key, as pods share the Secret.
    fs.copyFileSync(path.join(a.dir, 'kubegate.key'), path.join(b.dir, 'kubegate.key'));
    const lite = await prepareKubegate({ ...setup, synchronous: 'full' }, 'kubegate-bench-lite-');
    const ra = new BenchServer(a, { core: where.serverCore });
    const rb = new BenchServer(b, { core: where.serverCore });
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
    const pgConns = [await openConnections(a.port, c / 2), await openConnections(b.port, c / 2)];
    const liteConns = [await openConnections(lite.port, c)];
    const liteTarget = [{ host: one.host, path: '/oidc/token', headers: KUBECTL_AUTH }];
    await drive('warmup', c, 1000, refreshWorker(pgConns, pgTargets, pgChains));
    await drive('warmup', c, 1000, refreshWorker(liteConns, liteTarget, liteChains));

    const pgRounds: Phase[] = [];
    const liteRounds: Phase[] = [];
    for (let round = 1; round <= rounds; round++) {
      const l = await drive('one process, SQLite', c, count, refreshWorker(liteConns, liteTarget, liteChains), [one.pid]);
      printPhase(l);
      liteRounds.push(l);
      const p = await drive('two replicas, PostgreSQL', c, count, refreshWorker(pgConns, pgTargets, pgChains), [ra.pid, rb.pid]);
      printPhase(p);
      pgRounds.push(p);
      process.stdout.write(`  → two replicas on PostgreSQL / one process on SQLite: ${fmt(p.rps / l.rps, 2)}×\n`);
    }
    for (const list of [...pgConns, ...liteConns]) list.forEach((x) => x.close());
    const p = median(pgRounds);
    const l = median(liteRounds);
    const errors = [...pgRounds, ...liteRounds].reduce((n, x) => n + x.errors, 0);
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
