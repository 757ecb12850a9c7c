/**
 * `npm run bench -- token`: the refresh grant of the BUILT Kubegate next to
 * oidc-provider's, RS256 and ES256, at concurrency 16 and 64, each server
 * pinned to one core and the load generator on the other (bench/common.ts).
 * Kubegate commits each rotation and its audit row to SQLite
 * (synchronous=full unless --sync normal); oidc-provider keeps its state in
 * memory. Every request sends the refresh token the previous one returned
 * (one chain per load worker), as kubectl does.
 */
import { KeyObject, sign as cryptoSign } from 'node:crypto';
import { parseArgs } from 'node:util';
import { generateKeyPair, SignJWT } from 'jose';
import { prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';
import {
  BenchServer,
  drive,
  fmt,
  KUBECTL_AUTH,
  median,
  openConnections,
  printPhase,
  refreshWorker,
  startOidcProvider,
  UNLIMITED_CREDENTIAL,
  type GoalRow,
  type Phase,
  type Placement,
} from './common';

export const TOKEN_USAGE = `npm run bench -- token [--alg RS256|ES256|both] [--count N] [--rounds N] [--sync full|normal] [--kubegate-only] [--node-arg FLAG]...
  --alg          which signing algorithm(s) (default both)
  --count        refreshes per phase (default 4000)
  --rounds       rounds, servers alternating phase by phase; the summary takes each phase's median (default 3)
  --sync         Kubegate's SQLite synchronous setting (default full)
  --kubegate-only  skip oidc-provider (A/B runs of Kubegate alone)
  --node-arg     a flag for Kubegate's node process, e.g. --node-arg=--cpu-prof --node-arg=--cpu-prof-dir=/tmp/prof
  --server-entry another build's dist/server.mjs to run instead of this checkout's (A/B comparisons;
                 its directory's parent needs .next and node_modules, symlinks will do)
`;

const CONCURRENCIES = [16, 64] as const;
const WARMUP = 1500;

export interface TokenResult {
  alg: 'RS256' | 'ES256';
  kubegate: Map<number, Phase>;
  peer: Map<number, Phase> | undefined;
  errors: number;
}

export async function runToken(argv: string[], where: Placement): Promise<GoalRow[]> {
  const { values: opt } = parseArgs({
    args: argv,
    options: {
      alg: { type: 'string', default: 'both' },
      count: { type: 'string', default: '4000' },
      rounds: { type: 'string', default: '3' },
      sync: { type: 'string', default: 'full' },
      'kubegate-only': { type: 'boolean', default: false },
      'node-arg': { type: 'string', multiple: true, default: [] },
      'server-entry': { type: 'string' },
    },
  });
  const algs = opt.alg!.toLowerCase() === 'both' ? (['RS256', 'ES256'] as const) : [opt.alg!.toUpperCase() as 'RS256' | 'ES256'];
  if (!algs.every((a) => a === 'RS256' || a === 'ES256')) throw new Error('--alg must be RS256, ES256 or both');
  const count = Number(opt.count);
  const rounds = Math.max(1, Math.floor(Number(opt.rounds)) || 1);
  const sync = opt.sync === 'normal' ? 'normal' : 'full';

  process.stdout.write(
    `\n== token: POST /oidc/token refresh grant, Kubegate (SQLite synchronous=${sync}, built server) vs oidc-provider (in memory)\n` +
      `   ${where.describe}; ${count} refreshes per phase, ${rounds} round(s)\n`,
  );
  await signatureRates();
  const results: TokenResult[] = [];
  for (const alg of algs) results.push(await oneAlg(alg, { count, rounds, sync, peer: !opt['kubegate-only'], nodeArgs: opt['node-arg'] ?? [], entry: opt['server-entry'] }, where));

  const rows: GoalRow[] = [];
  for (const r of results) {
    const k16 = r.kubegate.get(16)!;
    const k64 = r.kubegate.get(64)!;
    if (r.peer) {
      const o16 = r.peer.get(16)!;
      const o64 = r.peer.get(64)!;
      const want = r.alg === 'RS256' ? 1.4 : 2;
      rows.push({
        goal: `${r.alg} c=16 throughput ≥ ${want}× oidc-provider`,
        measured: `${fmt(k16.rps)}/s vs ${fmt(o16.rps)}/s`,
        ratio: k16.rps / o16.rps,
        pass: k16.rps / o16.rps >= want,
      });
      rows.push({
        goal: `${r.alg} c=64 p99 ≤ 0.3× oidc-provider's`,
        measured: `${fmt(k64.p99, 1)} ms vs ${fmt(o64.p99, 1)} ms`,
        ratio: k64.p99 / o64.p99,
        pass: k64.p99 / o64.p99 <= 0.3,
      });
    } else {
      rows.push({ goal: `${r.alg} c=16 throughput (Kubegate alone)`, measured: `${fmt(k16.rps)}/s, p99 ${fmt(k16.p99, 1)} ms`, pass: undefined });
      rows.push({ goal: `${r.alg} c=64 throughput (Kubegate alone)`, measured: `${fmt(k64.rps)}/s, p99 ${fmt(k64.p99, 1)} ms`, pass: undefined });
    }
    rows.push({ goal: `${r.alg} zero errors (Kubegate)`, measured: `${r.errors} errors`, pass: r.errors === 0 });
  }
  return rows;
}

/** What one signature costs on this (load) core, jose's SignJWT vs node:crypto's sign (informational). */
async function signatureRates(): Promise<void> {
  const parts: string[] = [];
  for (const alg of ['RS256', 'ES256'] as const) {
    const n = alg === 'RS256' ? 300 : 1500;
    const { privateKey } = await generateKeyPair(alg, { modulusLength: 2048, extractable: true });
    const key = KeyObject.from(privateKey);
    const input = Buffer.from('eyJhbGciOiJFUzI1NiJ9.' + Buffer.from(JSON.stringify({ sub: 'x', iat: 1, groups: ['developers'] })).toString('base64url'));
    let t = performance.now();
    for (let i = 0; i < n; i++) cryptoSign('sha256', input, alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key);
    const node = (n * 1000) / (performance.now() - t);
    t = performance.now();
    for (let i = 0; i < n; i++) await new SignJWT({ sub: 'x', iat: 1, groups: ['developers'] }).setProtectedHeader({ alg }).sign(privateKey);
    const jose = (n * 1000) / (performance.now() - t);
    parts.push(`${alg} jose ${fmt(jose)}/s, node:crypto ${fmt(node)}/s`);
  }
  process.stdout.write(`   signatures on the load core, one at a time: ${parts.join('; ')}\n`);
}

async function oneAlg(
  alg: 'RS256' | 'ES256',
  o: { count: number; rounds: number; sync: 'full' | 'normal'; peer: boolean; nodeArgs: string[]; entry?: string },
  where: Placement,
): Promise<TokenResult> {
  process.stdout.write(`\n-- ${alg}\n`);
  const server = { token_rate_limit: { per_credential: UNLIMITED_CREDENTIAL, per_address_failures: UNLIMITED_CREDENTIAL } };
  const files = await prepareKubegate({ alg, synchronous: o.sync, idTokenLifetime: 60, reuseGrace: 10, server }, 'kubegate-bench-');
  const kubegate = new BenchServer(files, { core: where.serverCore, nodeArgs: o.nodeArgs, entry: o.entry });
  let peer: Awaited<ReturnType<typeof startOidcProvider>> | undefined;
  try {
    await kubegate.start();
    const seeder = await openSeeder(files.configPath);
    const who = await seeder.signIn('bench', ['developers']);
    const chains = new Map<number, string[]>();
    for (const c of [0, ...CONCURRENCIES]) {
      const list: string[] = [];
      for (let i = 0; i < (c || 16); i++) list.push((await seeder.mint('prod', who)).refreshToken);
      chains.set(c, list);
    }
    await seeder.close();
    const kgTarget = [{ host: kubegate.host, path: '/oidc/token', headers: KUBECTL_AUTH }];
    const kgPids = [kubegate.pid];

    if (o.peer) peer = await startOidcProvider(alg, where.serverCore);
    const peerTarget = peer ? [{ host: peer.host, path: '/token', extra: '&client_id=kubernetes' }] : [];

    // Warm both up (JIT, caches), unmeasured.
    {
      const conns = await openConnections(files.port, 16);
      await drive('warmup', 16, WARMUP, refreshWorker([conns], kgTarget, chains.get(0)!));
      conns.forEach((c) => c.close());
      if (peer) {
        const pc = await openConnections(peer.port, 16);
        await drive('warmup', 16, WARMUP, refreshWorker([pc], peerTarget, await peer.seed(16)));
        pc.forEach((c) => c.close());
      }
    }

    const kgRounds = new Map<number, Phase[]>(CONCURRENCIES.map((c) => [c, []]));
    const peerRounds = new Map<number, Phase[]>(CONCURRENCIES.map((c) => [c, []]));
    let errors = 0;
    for (let round = 1; round <= o.rounds; round++) {
      if (o.rounds > 1) process.stdout.write(`  round ${round} of ${o.rounds}\n`);
      for (const c of CONCURRENCIES) {
        const conns = await openConnections(files.port, c);
        const k = await drive(`Kubegate ${alg} /oidc/token`, c, o.count, refreshWorker([conns], kgTarget, chains.get(c)!), kgPids);
        conns.forEach((x) => x.close());
        printPhase(k);
        errors += k.errors;
        kgRounds.get(c)!.push(k);
        if (peer) {
          // Seeded right before each phase (its refresh tokens are single-use and chained).
          const pchains = await peer.seed(c);
          const pc = await openConnections(peer.port, c);
          const p = await drive(`oidc-provider ${alg} /token`, c, o.count, refreshWorker([pc], peerTarget, pchains), [peer.child.pid]);
          pc.forEach((x) => x.close());
          printPhase(p);
          peerRounds.get(c)!.push(p);
          process.stdout.write(`  → Kubegate / oidc-provider at c=${c}: ${fmt(k.rps / p.rps, 2)}× throughput, p99 ${fmt(k.p99 / p.p99, 2)}×\n`);
        }
      }
    }
    const kg = new Map(CONCURRENCIES.map((c) => [c, median(kgRounds.get(c)!)]));
    const pp = peer ? new Map(CONCURRENCIES.map((c) => [c, median(peerRounds.get(c)!)])) : undefined;
    if (o.rounds > 1) {
      for (const c of CONCURRENCIES) {
        const k = kg.get(c)!;
        const p = pp?.get(c);
        process.stdout.write(
          `  median c=${c}: Kubegate ${fmt(k.rps)}/s p99 ${fmt(k.p99, 1)} ms` +
            (p ? ` | oidc-provider ${fmt(p.rps)}/s p99 ${fmt(p.p99, 1)} ms | ${fmt(k.rps / p.rps, 2)}×` : '') +
            '\n',
        );
      }
    }
    return { alg, kubegate: kg, peer: pp, errors };
  } catch (err) {
    process.stderr.write(`--- Kubegate output ---\n${kubegate.tail()}\n`);
    throw err;
  } finally {
    peer?.stop();
    await kubegate.stop();
  }
}
