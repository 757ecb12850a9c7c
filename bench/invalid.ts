/**
 * `npm run bench -- invalid`: does a flood of invalid refresh tokens slow
 * everyone else down? Valid refreshes at concurrency 16 (closed loop, one
 * chain per worker), alone and then with a separate generator process
 * (bench/invalid-load.mjs) sending 1 000 well-formed but unknown refresh
 * tokens per second in the background (open loop), alternating; the p99 of
 * the valid ones is compared. By default the per-address failure limit is
 * off, so every invalid token is looked up (the worst case); with
 * --address-limit the server keeps its default limit and the generator
 * comes from another address (127.0.0.2), so most of its requests are
 * refused by the limiter before any work.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';
import {
  BenchServer,
  drive,
  fmt,
  KUBECTL_AUTH,
  median,
  openConnections,
  pin,
  printPhase,
  refreshWorker,
  UNLIMITED_CREDENTIAL,
  type GoalRow,
  type Phase,
  type Placement,
} from './common';

export const INVALID_USAGE = `npm run bench -- invalid [--alg ES256|RS256] [--rate 1000] [--count N] [--rounds N] [--address-limit]
  --alg            signing algorithm (default ES256: the cheaper signature, so the invalid requests weigh more)
  --rate           invalid refreshes per second in the background (default 1000)
  --count          valid refreshes per phase (default 4000)
  --rounds         alternations of "alone" and "with invalid load" (default 3; medians compared)
  --address-limit  keep the default per-address failure limit; the invalid load comes from 127.0.0.2
`;

interface GeneratorStats {
  sent: number;
  answered: number;
  skipped: number;
  statuses: Record<string, number>;
  seconds: number;
}

async function startGenerator(port: number, rate: number, localAddress: string | undefined, core: number | undefined) {
  const child: ChildProcess = fork(path.join(import.meta.dirname, 'invalid-load.mjs'), [], {
    env: { ...process.env, IL_PORT: String(port), IL_RATE: String(rate), IL_CONNECTIONS: '32', IL_LOCAL_ADDRESS: localAddress ?? '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
  });
  pin(child.pid, core);
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the invalid-load generator exited (${code})`)));
  });
  return {
    stop: () =>
      new Promise<GeneratorStats>((resolve) => {
        child.once('message', (m) => resolve(m as GeneratorStats));
        child.send('stop');
      }),
  };
}

export async function runInvalid(argv: string[], where: Placement): Promise<GoalRow[]> {
  const { values: opt } = parseArgs({
    args: argv,
    options: {
      alg: { type: 'string', default: 'ES256' },
      rate: { type: 'string', default: '1000' },
      count: { type: 'string', default: '4000' },
      rounds: { type: 'string', default: '3' },
      'address-limit': { type: 'boolean', default: false },
    },
  });
  const alg = opt.alg!.toUpperCase() === 'RS256' ? 'RS256' : 'ES256';
  const rate = Number(opt.rate);
  const count = Number(opt.count);
  const rounds = Math.max(1, Math.floor(Number(opt.rounds)) || 1);
  const limited = opt['address-limit']!;
  process.stdout.write(
    `\n== invalid: valid refreshes (${alg}, c=16) alone and with ${rate}/s invalid refresh tokens from a separate generator\n` +
      `   ${where.describe}; per-address failure limit ${limited ? 'on (default), invalid load from 127.0.0.2' : 'off: every invalid token is looked up'}\n`,
  );
  const server = {
    token_rate_limit: limited ? { per_credential: UNLIMITED_CREDENTIAL } : { per_credential: UNLIMITED_CREDENTIAL, per_address_failures: UNLIMITED_CREDENTIAL },
  };
  const files = await prepareKubegate({ alg, synchronous: 'full', idTokenLifetime: 60, reuseGrace: 10, server }, 'kubegate-bench-invalid-');
  const kubegate = new BenchServer(files, { core: where.serverCore });
  try {
    await kubegate.start();
    const seeder = await openSeeder(files.configPath);
    const who = await seeder.signIn('bench', ['developers']);
    const chains: string[] = [];
    for (let i = 0; i < 16; i++) chains.push((await seeder.mint('prod', who)).refreshToken);
    await seeder.close();
    const target = [{ host: kubegate.host, path: '/oidc/token', headers: KUBECTL_AUTH }];
    const conns = await openConnections(files.port, 16);
    const valid = (name: string) => drive(name, 16, count, refreshWorker([conns], target, chains), [kubegate.pid]);
    await drive('warmup', 16, 1500, refreshWorker([conns], target, chains));

    const alone: Phase[] = [];
    const loaded: Phase[] = [];
    const gens: GeneratorStats[] = [];
    for (let round = 1; round <= rounds; round++) {
      const a = await valid('valid refreshes alone');
      printPhase(a);
      alone.push(a);
      const gen = await startGenerator(files.port, rate, limited ? '127.0.0.2' : undefined, where.loadCore);
      await new Promise((r) => setTimeout(r, 500));
      const b = await valid(`valid + ${rate}/s invalid`);
      const stats = await gen.stop();
      printPhase(b);
      const codes = Object.entries(stats.statuses).map(([s, n]) => `${s}×${n}`).join(' ');
      process.stdout.write(
        `      invalid load: ${fmt(stats.sent / stats.seconds)}/s sent, ${stats.answered} answered (${codes}), ${stats.skipped} not sent (every connection waiting)\n`,
      );
      loaded.push(b);
      gens.push(stats);
    }
    await drive('cooldown', 16, 16, refreshWorker([conns], target, chains)).catch(() => undefined);
    conns.forEach((c) => c.close());

    // The median round by p99 on each side.
    const byP99 = (list: Phase[]) => [...list].sort((x, y) => x.p99 - y.p99)[Math.floor(list.length / 2)]!;
    const a = byP99(alone);
    const b = byP99(loaded);
    const tput = median(loaded).rps / median(alone).rps;
    const sentRate = gens.reduce((n, g) => n + g.sent / g.seconds, 0) / gens.length;
    const errors = [...alone, ...loaded].reduce((n, p) => n + p.errors, 0);
    process.stdout.write(
      `  median p99: alone ${fmt(a.p99, 1)} ms, with invalid load ${fmt(b.p99, 1)} ms (${fmt((b.p99 / a.p99 - 1) * 100)} %); throughput ${fmt(tput * 100)} % of alone\n`,
    );
    return [
      {
        goal: `${rate}/s invalid refreshes raise valid p99 ≤ 20 %${limited ? ' (address limit on)' : ''}`,
        measured: `p99 ${fmt(a.p99, 1)} → ${fmt(b.p99, 1)} ms at ${fmt(sentRate)}/s invalid`,
        ratio: b.p99 / a.p99,
        pass: b.p99 / a.p99 <= 1.2 && sentRate >= rate * 0.95,
      },
      { goal: 'valid refreshes next to invalid ones: zero errors', measured: `${errors} errors`, pass: errors === 0 },
    ];
  } catch (err) {
    process.stderr.write(`--- Kubegate output ---\n${kubegate.tail()}\n`);
    throw err;
  } finally {
    await kubegate.stop();
  }
}
