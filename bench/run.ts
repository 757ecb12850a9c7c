/**
 * `npm run bench -- [mode] [options]`: the issue's speed goals, measured on
 * the BUILT server (`npm run build` first; the bench never builds).
 *
 *   token     refresh grant vs oidc-provider, RS256 and ES256, c=16 and c=64 (bench/token.ts)
 *   invalid   valid refreshes with 1 000/s invalid ones in the background (bench/invalid.ts)
 *   replicas  two Kubegate processes on one PostgreSQL schema vs one on SQLite (bench/replicas.ts)
 *   pages     portal pages' server render (bench/pages.ts, its own program)
 *   soak      10 000 simulated kubectl users (bench/soak.ts, its own program)
 *   (none)    token + invalid + replicas + pages, then one table: goal, measured, ratio, PASS/MISS
 *
 * Servers run on core 0 and load generators on core 1 (taskset) when the
 * machine has two cores or more; otherwise, or with --unpinned, unpinned.
 * Not part of `npm test`: a MISS prints, it does not fail anything. The exit
 * status is 1 only when a mode could not run.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertBuilt, NoBuildError } from '../test/http/support/kubegate';
import { CPU_COUNT, loadavg, pin, placement, unpin, printGoals, PROJECT_DIR, type GoalRow, type Placement } from './common';

const MODES = ['token', 'invalid', 'replicas', 'pages', 'soak'] as const;
type Mode = (typeof MODES)[number];
const DEFAULT_MODES: Mode[] = ['token', 'invalid', 'replicas', 'pages'];
/** Modes other engineers write as programs of their own, run as `tsx bench/<mode>.ts [args]`. */
const PROGRAMS = new Set<Mode>(['pages', 'soak']);

const USAGE = `usage: npm run bench -- [mode] [options]

modes:
  token      Kubegate's refresh grant vs oidc-provider's, RS256 and ES256, concurrency 16 and 64
  invalid    p99 of valid refreshes with and without 1 000/s invalid refresh tokens in the background
  replicas   two Kubegate processes on one PostgreSQL schema (127.0.0.1:5432, db test) vs one on SQLite
  pages      portal pages' server render (bench/pages.ts)
  soak       10 000 simulated kubectl users refreshing for 10 minutes (bench/soak.ts)
  (none)     token + invalid + replicas + pages, and one summary table of the goals

common options:
  --unpinned   do not pin servers and load generators to cores
  --help       this text, or a mode's own options with \`npm run bench -- MODE --help\`
`;

async function runMode(mode: Mode, args: string[], where: Placement, goalsFile: string): Promise<GoalRow[]> {
  if (PROGRAMS.has(mode)) return runProgram(mode, args, goalsFile);
  // In-process modes: this process is the load generator, on the load core.
  pin(process.pid, where.loadCore);
  try {
    switch (mode) {
      case 'token':
        return await (await import('./token')).runToken(args, where);
      case 'invalid':
        return await (await import('./invalid')).runInvalid(args, where);
      case 'replicas':
        return await (await import('./replicas')).runReplicas(args, where);
      default:
        throw new Error(`unknown mode ${mode}`);
    }
  } finally {
    if (where.pinned) unpin(process.pid);
  }
}

/** pages and soak: `tsx bench/<mode>.ts [args]`, reporting goals as JSON lines to BENCH_GOALS_FILE. */
async function runProgram(mode: Mode, args: string[], goalsFile: string): Promise<GoalRow[]> {
  const file = path.join(import.meta.dirname, `${mode}.ts`);
  if (!fs.existsSync(file)) {
    process.stdout.write(`\n== ${mode}: bench/${mode}.ts is missing in this checkout; skipped\n`);
    return [{ goal: `${mode}`, measured: `bench/${mode}.ts missing: not run`, pass: undefined }];
  }
  process.stdout.write(`\n== ${mode}: tsx bench/${mode}.ts ${args.join(' ')}\n`);
  const before = fs.existsSync(goalsFile) ? fs.readFileSync(goalsFile, 'utf8').length : 0;
  const tsx = path.join(PROJECT_DIR, 'node_modules', '.bin', 'tsx');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(tsx, [file, ...args], { cwd: PROJECT_DIR, stdio: 'inherit', env: { ...process.env, BENCH_GOALS_FILE: goalsFile } });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    child.on('error', () => resolve(127));
  });
  const text = fs.existsSync(goalsFile) ? fs.readFileSync(goalsFile, 'utf8').slice(before) : '';
  const rows = text
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as GoalRow];
      } catch {
        return [];
      }
    });
  if (code !== 0) rows.push({ goal: `${mode} ran`, measured: `bench/${mode}.ts exited with ${code}`, pass: false });
  else if (rows.length === 0) rows.push({ goal: `${mode} ran`, measured: 'exit 0, reported no goals (see its output above)', pass: undefined });
  return rows;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const first = argv[0];
  const mode = first && !first.startsWith('-') ? first : undefined;
  const rest = mode ? argv.slice(1) : argv;
  if (mode && !MODES.includes(mode as Mode)) {
    process.stderr.write(`bench: unknown mode "${mode}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    if (mode === 'token') process.stdout.write((await import('./token')).TOKEN_USAGE);
    else if (mode === 'invalid') process.stdout.write((await import('./invalid')).INVALID_USAGE);
    else if (mode === 'replicas') process.stdout.write((await import('./replicas')).REPLICAS_USAGE);
    else if (mode && PROGRAMS.has(mode as Mode)) return (await runProgram(mode as Mode, ['--help'], os.devNull)).some((r) => r.pass === false) ? 1 : 0;
    else process.stdout.write(USAGE);
    return 0;
  }
  const unpinned = rest.includes('--unpinned');
  const args = rest.filter((a) => a !== '--unpinned');
  try {
    assertBuilt();
  } catch (err) {
    if (!(mode && PROGRAMS.has(mode as Mode))) {
      process.stderr.write(`bench: ${err instanceof NoBuildError ? err.message : String(err)}\n`);
      return 1;
    }
  }
  const where = placement(!unpinned);
  const started = performance.now();
  process.stdout.write(
    `Kubegate bench — ${CPU_COUNT} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, load average ${loadavg()}\n${where.describe}\n`,
  );
  const goalsFile = path.join(os.tmpdir(), `kubegate-bench-goals-${process.pid}.jsonl`);
  const modes = mode ? [mode as Mode] : DEFAULT_MODES;
  const rows: GoalRow[] = [];
  let failed = false;
  for (const m of modes) {
    try {
      rows.push(...(await runMode(m, mode ? args : [], where, goalsFile)));
    } catch (err) {
      failed = true;
      process.stderr.write(`bench ${m}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      rows.push({ goal: `${m} ran`, measured: `failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, pass: false });
    }
  }
  fs.rmSync(goalsFile, { force: true });
  process.stdout.write(`\nSummary (${where.pinned ? 'pinned cores' : 'unpinned'}; ${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${loadavg()})\n`);
  printGoals(rows);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
