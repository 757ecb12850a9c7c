/**
 * The issuer's refresh path in ONE process, for stable A/B comparisons on a
 * shared machine (used for the figures in docs/architecture.md, not by
 * `npm run bench`): the runtime and the node:http issuer listener exactly as
 * server.ts wires them (no Next.js), a durable SQLite file
 * (synchronous=full), and N refreshes one after another over a keep-alive
 * socket, each sending the token the previous one returned. Prints the CPU
 * time per refresh (this process, every thread). Under
 * `valgrind --tool=callgrind` (bundle it first with esbuild) the difference
 * of two runs with different N is the instruction count of N refreshes,
 * which other work on the machine does not change.
 *
 *   tsx bench/refresh-loop.ts [--alg ES256|RS256] [--warmup 500] [--count 2000] [--concurrency 1] [--log]
 *
 * `--concurrency N`: N chains refreshed side by side (N keep-alive sockets),
 * so the writer thread commits groups of rotations as under load. `--log`:
 * the server's logger and access log on stdout (send stdout to /dev/null),
 * as `npm run bench` runs them; without it no access line is written.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createProxyTrust } from '../lib/http/client-address';
import { createIssuerListener } from '../lib/http/node-adapter';
import { createIssuerRoutes } from '../lib/oidc/issuer-routes';
import { bootRuntime } from '../lib/runtime-global';
import { createLogger, silentLogger } from '../lib/util/log';
import { prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';

const { values: opt } = parseArgs({
  options: {
    alg: { type: 'string', default: 'ES256' },
    warmup: { type: 'string', default: '500' },
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '1' },
    log: { type: 'boolean', default: false },
    // Under callgrind: stop before and after the measured refreshes, print `pause`, and go on at SIGUSR2, so
    // `callgrind_control -z` and `-d` can bracket exactly the measured part.
    pauses: { type: 'boolean', default: false },
  },
});
const alg = opt.alg === 'RS256' ? 'RS256' : 'ES256';
const unlimited = { burst: 1_000_000, per_minute: 1_000_000 };
const files = await prepareKubegate({ alg, synchronous: 'full', busyTimeout: 30, server: { token_rate_limit: { per_credential: unlimited, per_address_failures: unlimited } } }, 'kubegate-loop-');
const seeder = await openSeeder(files.configPath);
const concurrency = Math.max(1, Number(opt.concurrency) || 1);
const who = await seeder.signIn('bench', ['developers']);
const tokens: string[] = [];
for (let i = 0; i < concurrency; i++) tokens.push((await seeder.mint('prod', who)).refreshToken);
await seeder.close();

process.env.KUBEGATE_CONFIG = files.configPath;
const log = opt.log ? createLogger() : silentLogger;
const { rt } = await bootRuntime({ log });
const listener = createIssuerListener(createIssuerRoutes(rt.issuerDeps), { log, proxy: createProxyTrust(false), bodyTimeoutMs: 10_000, accessLog: opt.log });
const server = http.createServer((req, res) => {
  if (!listener(req, res)) res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const auth = 'Basic ' + Buffer.from('kubernetes:').toString('base64');

function refresh(w: number): Promise<void> {
  const body = `grant_type=refresh_token&refresh_token=${tokens[w]}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, path: '/oidc/token', method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const m = /"refresh_token":"([^"]+)"/.exec(text);
          if (res.statusCode !== 200 || !m) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          tokens[w] = m[1]!;
          resolve();
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const pause = async (what: string) => {
  if (!opt.pauses) return;
  const go = new Promise((r) => process.once('SIGUSR2', r));
  process.stderr.write(`pause ${what} ${process.pid}\n`);
  await go;
};
/** `n` refreshes in all, `concurrency` chains side by side. */
async function run(n: number): Promise<void> {
  let next = 0;
  await Promise.all(
    tokens.map(async (_, w) => {
      while (next++ < n) await refresh(w);
    }),
  );
}
await run(Number(opt.warmup));
const count = Number(opt.count);
await pause('before');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run(count);
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
await pause('after');
if (count > 0) {
  process.stderr.write(`${alg}, concurrency ${concurrency}: ${count} refreshes in ${ms.toFixed(0)} ms; CPU ${(((cpu.user + cpu.system) / count) | 0)} µs per refresh (user ${(cpu.user / count) | 0}, system ${(cpu.system / count) | 0}; this process, client included)\n`);
}
agent.destroy();
server.close();
await rt.close();
process.exit(0);
