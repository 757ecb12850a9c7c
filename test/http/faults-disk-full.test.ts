/**
 * The SQLite database's filesystem fills up while kubectl users refresh,
 * against the built server with its database on a small tmpfs (a real
 * ENOSPC, not max_page_count): refreshes answer 503
 * `temporarily_unavailable` with Retry-After (never a 500, never a 200 whose
 * rotation was not stored), /readyz says not ready, the process stays up
 * and keeps answering what needs no write (a refusal, the JWKS, /healthz);
 * once space is freed every chain goes on and every family is intact, with
 * one `token.refreshed` audit row per rotation a client received (the audit
 * row commits with its rotation or not at all) and the refusals counted
 * while the disk was full written by the denial flush afterwards.
 *
 * Needs root (mount -t tmpfs); skipped with the reason otherwise.
 *
 * Tried against broken builds: one whose refresh answered 200 when the
 * rotation's write failed fails the first test (no 503, then a token a
 * client received is unknown); the one before the shutdown fix in
 * lib/oidc/guards.ts fails the second (its log only said "retrying at the
 * next flush", and no flush came).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOAuthError } from './support/assert';
import { chainDefect, drive, newChain, readFamilyChains, type Chain } from './support/chains';
import { kubectlRefresh } from './support/client';
import { KubegateServer, LOAD_RATE_LIMIT, prepareKubegate } from './support/kubegate';
import { openSeeder } from './support/seed';

const CHAINS = 16;
const TMPFS_SIZE = '8m';

/** A fresh tmpfs mount point, or why there is none. */
function mountTmpfs(): { dir: string } | { skip: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-diskfull-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (err) {
    fs.rmdirSync(dir);
    const msg = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    return { skip: `cannot mount a tmpfs here (${process.getuid?.() === 0 ? 'as root' : 'not root'}): ${msg}` };
  }
}

const mount = mountTmpfs();
const skip = 'skip' in mount ? mount.skip : undefined;
if (skip) console.warn(`faults-disk-full: skipped: ${skip}`);

let server: KubegateServer;
let filler: { fd: number; file: string } | undefined;

/** Fills the filesystem of `dir` until ENOSPC; the file is kept open to be removed later. */
function fill(dir: string): number {
  const file = path.join(dir, 'filler');
  const fd = fs.openSync(file, 'w');
  filler = { fd, file };
  let written = 0;
  for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
    const buf = Buffer.alloc(size, 0xa5);
    for (;;) {
      try {
        written += fs.writeSync(fd, buf);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
  return written;
}

function unfill(): void {
  if (!filler) return;
  fs.closeSync(filler.fd);
  fs.rmSync(filler.file, { force: true });
  filler = undefined;
}

beforeAll(async () => {
  if (skip) return;
  const { dir } = mount as { dir: string };
  server = new KubegateServer(
    await prepareKubegate({ idTokenLifetime: 60, reuseGrace: 2, synchronous: 'full', server: { token_rate_limit: LOAD_RATE_LIMIT }, sqlitePath: path.join(dir, 'kubegate.db') }, 'kubegate-faults-disk-'),
  );
  await server.start();
});

afterAll(async () => {
  unfill();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
  if (!skip) {
    const { dir } = mount as { dir: string };
    execFileSync('umount', [dir]);
    fs.rmdirSync(dir);
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `cond`, failing at once with the first contract violation any chain saw. */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, chains: Chain[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const violations = chains.flatMap((c) => c.violations);
    if (violations.length) throw new Error(`while waiting for ${what}: ${violations.length} answers broke the contract, first: ${violations[0]}`);
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

describe.skipIf(skip)(`disk full under refresh load (SQLite on a ${TMPFS_SIZE} tmpfs)${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('answers 503 + Retry-After while full, loses and half-does nothing, and every chain goes on once space is freed', async () => {
    const { dir } = mount as { dir: string };
    const seeder = await openSeeder(server.files.configPath);
    const who = await seeder.signIn('alice');
    // A revoked credential someone keeps presenting: its refusals are audited by the background flush.
    const chains = (await Promise.all(Array.from({ length: CHAINS }, () => seeder.mint('prod', who)))).map((m) => newChain(m.family.id, m.refreshToken));
    const minted = await seeder.mint('prod', who);
    const revoked = { family: minted.family.id, token: minted.refreshToken };
    await seeder.store.revokeFamily(revoked.family, 'revoked_by_user', Date.now(), { kind: 'family.revoked', family_id: revoked.family });
    await seeder.close();

    let phase: 'before' | 'full' | 'freed' = 'before';
    const ok = { before: 0, full: 0, freed: 0 };
    let unavailable = 0;
    let stop = false;
    const okAfterFree = new Set<Chain>();
    const agent = new http.Agent({ keepAlive: true, maxSockets: CHAINS });
    const load = drive(agent, server.url, chains, () => stop, async (c, r) => {
      if (r.status === 200) {
        ok[phase]++;
        if (phase === 'freed') okAfterFree.add(c);
        return;
      }
      if (r.status === 503 && r.json.error === 'temporarily_unavailable' && Number(r.headers['retry-after']) >= 1 && r.headers['cache-control'] === 'no-store') {
        unavailable++;
        // kubectl fails the command; its user runs it again a moment later (here: after Retry-After, at most 2 s).
        await sleep(Math.min(2, Number(r.headers['retry-after'])) * 1000);
        return;
      }
      c.violations.push(`${phase}: ${r.status} retry-after=${r.headers['retry-after']} ${r.body.slice(0, 200)}`);
    });
    const loadFailed = load.catch((err: unknown) => err);

    try {
      await sleep(1000);
      expect(ok.before, 'refreshes before the disk fills').toBeGreaterThan(0);

      phase = 'full';
      const filled = fill(dir);
      expect(filled).toBeGreaterThan(0);
      // Space in the WAL already allocated may take a few more commits; then every write fails.
      await waitFor('503s from the full disk', () => unavailable > CHAINS, chains, 20_000);
      const readyz = async () => {
        const res = await fetch(`${server.url}/readyz`);
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      await waitFor('/readyz not ready', async () => (await readyz()).status === 503, chains, 10_000);
      expect((await readyz()).body).toMatchObject({ status: 'unavailable' });

      // Still up, still answering what needs no write.
      expect(() => process.kill(server.pid!, 0)).not.toThrow();
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/oidc/jwks`)).status).toBe(200);
      const DENIALS = 3;
      for (let i = 0; i < DENIALS; i++) {
        expectOAuthError(await kubectlRefresh(server.url, 'kubernetes', '', revoked.token), 400, 'invalid_grant', /revoked/);
      }
      const unavailableWhileFull = unavailable;

      phase = 'freed';
      unfill();
      await waitFor('/readyz ready again', async () => (await readyz()).status === 200, chains, 15_000);
      // Every chain goes on, with the token it holds.
      await waitFor('every chain refreshing again', () => okAfterFree.size === CHAINS, chains, 15_000);
      stop = true;
      await load;
      console.info(
        `disk full: ${ok.before} refreshes before, ${ok.full} while filling (space already allocated), ${unavailableWhileFull} answered 503 while full, ${ok.freed} after freeing`,
      );
    } finally {
      stop = true;
      unfill();
      expect(await loadFailed).toBeUndefined();
      agent.destroy();
    }

    for (const c of chains) expect(c.violations, c.family).toEqual([]);
    expect(chains.every((c) => c.unanswered === undefined), 'every request was answered: the process never went away').toBe(true);
    expect(server.tail(400)).not.toMatch(/uncaught|unhandled|SIGBUS|FATAL/i);

    // Graceful stop: the denial flush writes what was refused while the disk was full.
    const pid = server.pid!;
    await server.kill('SIGTERM');
    expect(() => process.kill(pid, 0)).toThrow();

    // Every rotation a client received is stored, exactly once, with its audit row; nothing else.
    const families = readFamilyChains(server.files.dbPath);
    for (const c of chains) expect(chainDefect(c, families.get(c.family)), c.family).toBeUndefined();
    const db = new Database(server.files.dbPath, { readonly: true, fileMustExist: true });
    try {
      const audited = new Map(
        (db.prepare("select family_id, count(*) as n from audit_events where kind = 'token.refreshed' group by family_id").all() as Array<{ family_id: string; n: number }>).map(
          (r) => [r.family_id, r.n],
        ),
      );
      for (const c of chains) expect(audited.get(c.family) ?? 0, c.family).toBe(c.done);
      const denied = db.prepare("select details from audit_events where kind = 'token.refresh_denied' and family_id = ?").all(revoked.family) as Array<{ details: string }>;
      const total = denied.reduce((n, r) => n + (JSON.parse(r.details) as { count: number }).count, 0);
      expect(total).toBe(3);
    } finally {
      db.close();
    }
  });

  it('a shutdown while the disk is still full puts the refusals it could not audit into the log, not nowhere', async () => {
    const { dir } = mount as { dir: string };
    await server.kill('SIGTERM'); // (stopped already when the first test ran)
    await server.start();
    const seeder = await openSeeder(server.files.configPath);
    const minted = await seeder.mint('prod', await seeder.signIn('alice'));
    const revoked = { family: minted.family.id, token: minted.refreshToken };
    await seeder.store.revokeFamily(revoked.family, 'revoked_by_user', Date.now(), { kind: 'family.revoked', family_id: revoked.family });
    await seeder.close();
    const DENIALS = 5;
    fill(dir);
    try {
      // A write fails now (readiness probes one), while refusals need none.
      const readyz = async () => (await fetch(`${server.url}/readyz`)).status;
      await expect.poll(readyz, { timeout: 10_000, interval: 300 }).toBe(503);
      for (let i = 0; i < DENIALS; i++) {
        expectOAuthError(await kubectlRefresh(server.url, 'kubernetes', '', revoked.token), 400, 'invalid_grant', /revoked/);
      }
      const started = Date.now();
      await server.kill('SIGTERM');
      expect(Date.now() - started, 'graceful shutdown does not hang on the full disk').toBeLessThan(9_000);
    } finally {
      unfill();
    }
    const lines = fs
      .readFileSync(server.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const lost = lines.find((l) => l.level === 'error' && /token denials not audited/.test(String(l.msg)));
    expect(lost, lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')).toMatchObject({
      count: 1,
      rows: [{ kind: 'token.refresh_denied', family_id: revoked.family, details: { count: DENIALS } }],
    });
  });
});
