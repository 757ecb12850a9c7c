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
 *   tsx bench/refresh-loop.ts [--alg ES256|RS256] [--warmup 500] [--count 2000]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createProxyTrust } from '../lib/http/client-address';
import { createIssuerListener } from '../lib/http/node-adapter';
import { createIssuerRoutes } from '../lib/oidc/issuer-routes';
import { bootRuntime } from '../lib/runtime-global';
import { silentLogger } from '../lib/util/log';
import { prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';

const { values: opt } = parseArgs({
  options: {
    alg: { type: 'string', default: 'ES256' },
    warmup: { type: 'string', default: '500' },
    count: { type: 'string', default: '2000' },
    // Under callgrind: stop before and after the measured refreshes, print `pause`, and go on at SIGUSR2, so
    // `callgrind_control -z` and `-d` can bracket exactly the measured part.
    pauses: { type: 'boolean', default: false },
  },
});
const alg = opt.alg === 'RS256' ? 'RS256' : 'ES256';
const unlimited = { burst: 1_000_000, per_minute: 1_000_000 };
const files = await prepareKubegate({ alg, synchronous: 'full', busyTimeout: 30, server: { token_rate_limit: { per_credential: unlimited, per_address_failures: unlimited } } }, 'kubegate-loop-');
const seeder = await openSeeder(files.configPath);
let token = (await seeder.mint('prod', await seeder.signIn('bench', ['developers']))).refreshToken;
await seeder.close();

process.env.KUBEGATE_CONFIG = files.configPath;
const { rt } = await bootRuntime({ log: silentLogger });
const listener = createIssuerListener(createIssuerRoutes(rt.issuerDeps), { log: silentLogger, proxy: createProxyTrust(false), bodyTimeoutMs: 10_000 });
const server = http.createServer((req, res) => {
  if (!listener(req, res)) res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const auth = 'Basic ' + Buffer.from('kubernetes:').toString('base64');

function refresh(): Promise<void> {
  const body = `grant_type=refresh_token&refresh_token=${token}`;
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
          token = m[1]!;
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
for (let i = 0; i < Number(opt.warmup); i++) await refresh();
const count = Number(opt.count);
await pause('before');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < count; i++) await refresh();
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
await pause('after');
if (count > 0) {
  process.stderr.write(`${alg}: ${count} refreshes in ${ms.toFixed(0)} ms; CPU ${(((cpu.user + cpu.system) / count) | 0)} µs per refresh (user ${(cpu.user / count) | 0}, system ${(cpu.system / count) | 0}; this process, client included)\n`);
}
agent.destroy();
server.close();
await rt.close();
process.exit(0);
