/**
 * The issuer's refresh path in ONE process on PostgreSQL, counting what a
 * refresh sends to the server: the runtime and the node:http issuer
 * listener as server.ts wires them (no Next.js), a fresh schema
 * `kubegate_bench_loop_*` (dropped at the end), and N refreshes one after
 * another over a keep-alive socket, each sending the token the previous one
 * returned. Every `pg` query of this process is counted on the client side
 * (`pg.Client.prototype.query` wrapped: one call is one round trip), so the
 * figures need neither `log_statement` nor pg_stat_statements on a shared
 * server. Prints (on stderr: stdout carries the audit lines) round trips per refresh, each distinct statement with its
 * count, CPU time of this process per refresh and wall time per refresh.
 *
 *   tsx bench/pg-refresh-loop.ts [--pg-url URL] [--alg ES256|RS256] [--warmup 200] [--count 1000]
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createProxyTrust } from '../lib/http/client-address';
import { createIssuerListener } from '../lib/http/node-adapter';
import { createIssuerRoutes } from '../lib/oidc/issuer-routes';
import { bootRuntime } from '../lib/runtime-global';
import { silentLogger } from '../lib/util/log';
import { prepareKubegate } from '../test/http/support/kubegate';
import { openSeeder } from '../test/http/support/seed';
import { procCpuSeconds } from './common';

const { values: opt } = parseArgs({
  options: {
    'pg-url': { type: 'string', default: process.env.KUBEGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    alg: { type: 'string', default: 'ES256' },
    warmup: { type: 'string', default: '200' },
    count: { type: 'string', default: '1000' },
  },
});
const alg = opt.alg === 'RS256' ? 'RS256' : 'ES256';

/** Statements sent by this process while `counting`, by their text (whitespace folded). */
const sent = new Map<string, number>();
let counting = false;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  if (counting) {
    const first = args[0] as string | { text?: string; name?: string };
    const text = typeof first === 'string' ? first : `${first.name ? `[${first.name}] ` : ''}${first.text ?? ''}`;
    const key = text.replace(/\s+/g, ' ').slice(0, 160);
    sent.set(key, (sent.get(key) ?? 0) + 1);
  }
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pg.Client.prototype.query;

const admin = new pg.Pool({ connectionString: opt['pg-url'], max: 1 });
const schema = `kubegate_bench_loop_${randomBytes(4).toString('hex')}`;
await admin.query(`create schema ${schema}`);
try {
  const url = new URL(opt['pg-url']!);
  url.searchParams.set('options', `-c search_path=${schema}`);
  // The connection string's application_name wins over the store's: this run's backends are found by it.
  url.searchParams.set('application_name', schema);
  const unlimited = { burst: 1_000_000, per_minute: 1_000_000 };
  const files = await prepareKubegate(
    { alg, postgres: { url: url.toString(), pool_size: 4 }, server: { token_rate_limit: { per_credential: unlimited, per_address_failures: unlimited } } },
    'kubegate-pgloop-',
  );
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

  const refresh = (): Promise<void> => {
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
  };

  for (let i = 0; i < Number(opt.warmup); i++) await refresh();
  const count = Number(opt.count);
  // The server side: CPU of this run's PostgreSQL backends (/proc: the server runs on this machine).
  const backends = (await admin.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [schema])).rows.map((r) => r.pid);
  const ticks = () => backends.reduce((sum, pid) => sum + (procCpuSeconds(pid) ?? 0), 0);
  const pg0 = ticks();
  counting = true;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await refresh();
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  counting = false;
  const pgMs = (ticks() - pg0) * 1000;
  const total = [...sent.values()].reduce((a, b) => a + b, 0);
  process.stderr.write(`${alg} on PostgreSQL: ${count} sequential refreshes\n`);
  process.stderr.write(`  round trips per refresh: ${(total / count).toFixed(2)}\n`);
  for (const [text, n] of [...sent].sort((a, b) => b[1] - a[1])) process.stderr.write(`  ${(n / count).toFixed(2)} × ${text}\n`);
  process.stderr.write(
    `  wall ${(ms / count).toFixed(2)} ms per refresh; CPU of this process ${((cpu.user + cpu.system) / count) | 0} µs per refresh (client included); ` +
      `CPU of its ${backends.length} PostgreSQL backends ${((pgMs * 1000) / count) | 0} µs per refresh\n`,
  );
  agent.destroy();
  server.close();
  await rt.close();
} finally {
  await admin.query(`drop schema if exists ${schema} cascade`);
  await admin.end();
}
process.exit(0);
