/**
 * A server whose stdout and stderr readers went away (a log shipper that
 * died, a supervisor or test harness gone): its next log line fails with
 * EPIPE. Kubegate stops gracefully and exits 1, so a supervisor starts it
 * again with working streams. It once printed the EPIPE error with
 * console.error onto the dead stderr, whose own EPIPE was printed again: a
 * loop that spun a core and never exited.
 * Runs its own server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_DIR, assertBuilt, prepareKubegate, type KubegateFiles } from './support/kubegate';

let files: KubegateFiles;
let child: ChildProcess;

/** CPU time the process has used, in ms (utime + stime from /proc). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

beforeAll(async () => {
  assertBuilt();
  files = await prepareKubegate({ server: { shutdown_grace: '2s' } }, 'kubegate-output-');
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(files.port), HOST: '127.0.0.1', KUBEGATE_CONFIG: files.configPath, NEXT_TELEMETRY_DISABLED: '1' };
  for (const k of Object.keys(env)) if (/^(VITEST|__VITEST|TSX|NODE_OPTIONS$|NODE_ENV$)/.test(k)) delete env[k];
  child = spawn(process.execPath, ['scripts/start.mjs'], { cwd: PROJECT_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  child.stderr!.resume();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${files.issuer}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('kubegate did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(files.dir, { recursive: true, force: true });
});

describe('stdout and stderr closed under a running server', () => {
  it('stops gracefully and exits 1 instead of spinning on EPIPE', async () => {
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    // The reading ends go away; the next line Kubegate writes meets EPIPE.
    child.stdout!.destroy();
    child.stderr!.destroy();
    const before = cpuMs(child.pid!);
    // An issuer request writes an access line.
    const res = await fetch(`${files.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const outcome = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 15_000))]);
    if (outcome === 'still running') {
      const spent = cpuMs(child.pid!) - before;
      throw new Error(`still running 15 s after its streams closed, having used ${spent} ms of CPU since`);
    }
    expect(outcome).toEqual({ code: 1, signal: null });
  });
});
