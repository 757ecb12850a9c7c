/**
 * A/B of the portal pages' server CPU between two BUILT trees (say, a
 * checkout of the previous commit and this one), for a machine too loaded
 * for bench/pages.ts's figures to compare across runs: both servers run at
 * once, and each request goes to A then to B, so both see the same load;
 * the CPU time each process spent (from /proc) is divided by its requests.
 *
 *   tsx bench/pages-ab.ts A_DIR B_DIR [--count 600] [--rounds 3] [--node PATH] [--node-b PATH]
 *
 * Each tree needs `npm run build`. `--node` runs both servers on another
 * Node binary, `--node-b` only B's (the same build on Node 20 and 24, say);
 * the tree's native modules must be built for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import bcrypt from 'bcryptjs';
import { TestBrowser } from '../test/http/support/browser';
import { prepareKubegate } from '../test/http/support/kubegate';
import { getPage } from './common';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { count: { type: 'string', default: '600' }, rounds: { type: 'string', default: '3' }, node: { type: 'string' }, 'node-b': { type: 'string' } },
});
if (positionals.length !== 2) {
  process.stderr.write('usage: tsx bench/pages-ab.ts A_DIR B_DIR [--count 600] [--rounds 3] [--node PATH] [--node-b PATH]\n');
  process.exit(2);
}
const USERNAME = 'bench';
const PASSWORD = 'bench-pages-password';

function cpuMs(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

interface Side {
  dir: string;
  child: ChildProcess;
  base: string;
  cookie: string;
  agent: http.Agent;
  tmp: string;
}

async function start(dir: string, node: string): Promise<Side> {
  const files = await prepareKubegate({}, 'kubegate-pages-ab-');
  const config = JSON.parse(fs.readFileSync(files.configPath, 'utf8')) as { users: Array<{ username: string; password_hash: string }> };
  for (const u of config.users) if (u.username === USERNAME) u.password_hash = bcrypt.hashSync(PASSWORD, 4);
  fs.writeFileSync(files.configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(files.port), HOST: '127.0.0.1', KUBEGATE_CONFIG: files.configPath, NEXT_TELEMETRY_DISABLED: '1' };
  for (const k of Object.keys(env)) if (/^(TSX|NODE_OPTIONS$|NODE_ENV$)/.test(k)) delete env[k];
  const child = spawn(node, ['scripts/start.mjs'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${files.issuer}/healthz`)).status === 200) break;
    } catch {
      /* not yet */
    }
    if (i > 900) throw new Error(`${dir}: no /healthz`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const browser = new TestBrowser(files.issuer);
  await browser.signIn(USERNAME, PASSWORD);
  return { dir, child, base: files.issuer, cookie: browser.cookieHeader(), agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), tmp: files.dir };
}

const PAGES = [
  { name: 'home /', path: '/', signedIn: true, status: 200 },
  { name: 'cluster /clusters/prod', path: '/clusters/prod', signedIn: true, status: 200 },
  { name: 'login (out)', path: '/login', signedIn: false, status: 200 },
  { name: '404 page', path: '/bench-no-such-page', signedIn: false, status: 404 },
];

async function main(): Promise<void> {
  const nodeA = opt.node ?? process.execPath;
  const nodeB = opt['node-b'] ?? nodeA;
  const sides = [await start(path.resolve(positionals[0]!), nodeA), await start(path.resolve(positionals[1]!), nodeB)];
  const n = Number(opt.count);
  const results = new Map<string, number[][]>();
  try {
    process.stdout.write(`A ${sides[0]!.dir} (${nodeA})\nB ${sides[1]!.dir} (${nodeB})\nload average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
    for (let round = 0; round < Number(opt.rounds); round++) {
      for (const p of PAGES) {
        const urls = sides.map((s) => new URL(p.path, s.base));
        for (let i = 0; i < 50; i++) for (const [k, s] of sides.entries()) await getPage(s.agent, urls[k]!, p.signedIn ? s.cookie : undefined);
        const before = sides.map((s) => cpuMs(s.child.pid!));
        for (let i = 0; i < n; i++) {
          for (const [k, s] of sides.entries()) {
            const status = await getPage(s.agent, urls[k]!, p.signedIn ? s.cookie : undefined);
            if (status !== p.status) throw new Error(`${s.dir} ${p.path}: HTTP ${status}`);
          }
        }
        const per = sides.map((s, k) => (cpuMs(s.child.pid!) - before[k]!) / n);
        if (!results.has(p.name)) results.set(p.name, [[], []]);
        results.get(p.name)![0]!.push(per[0]!);
        results.get(p.name)![1]!.push(per[1]!);
        process.stdout.write(`  round ${round + 1} ${p.name.padEnd(24)} A ${per[0]!.toFixed(2)}  B ${per[1]!.toFixed(2)} ms cpu/req  (B/A ${(per[1]! / per[0]!).toFixed(3)})\n`);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    process.stdout.write(`\nmedian over rounds (load average now ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}):\n`);
    for (const [name, [a, b]] of results) {
      process.stdout.write(`  ${name.padEnd(24)} A ${median(a!).toFixed(2)}  B ${median(b!).toFixed(2)} ms cpu/req   B/A ${median(b!.map((x, i) => x / a![i]!)).toFixed(3)}\n`);
    }
  } finally {
    for (const s of sides) {
      s.agent.destroy();
      const gone = new Promise((r) => s.child.once('close', r));
      s.child.kill('SIGTERM');
      await gone;
      fs.rmSync(s.tmp, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
