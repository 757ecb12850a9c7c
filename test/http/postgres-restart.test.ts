/**
 * PostgreSQL restarted under refresh load, twice (`pg_ctl stop -m fast`, a
 * clean shutdown that disconnects every client, then `-m immediate`, a crash
 * with recovery at the next start), with two built replicas behind a
 * round-robin balancer and several kubectl-like clients refreshing in a
 * loop. The server is the test's own (test/http/support/pg-instance.ts): the
 * machine's PostgreSQL is shared with other suites and is never stopped.
 *
 * While the database is down every answer is 503 `temporarily_unavailable`
 * with Retry-After and no-store, quickly (never a 500, never a hang past the
 * configured timeouts), and the replicas stay up. A client that got 503
 * presents the same refresh token again and succeeds once the database is
 * back. At the end every family is intact: live, exactly one unused token
 * (the head), the client's last token is that head, and every successor a
 * client received is in the family's chain.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashRefreshToken } from '../../lib/oidc/refresh-tokens';
import { kubectlRefresh } from './support/client';
import { KubegateServer, LOAD_RATE_LIMIT, prepareKubegate } from './support/kubegate';
import { PgInstance, pgInstanceUnavailable, type StopMode } from './support/pg-instance';
import { RoundRobinProxy } from './support/round-robin';
import { openSeeder, type Seeder } from './support/seed';

const unavailable = pgInstanceUnavailable();
if (unavailable) console.warn(`postgres-restart: skipped, ${unavailable}`);

const CLIENTS = 6;
/** storage.postgres.statement_timeout and connect_timeout, seconds. */
const STATEMENT_TIMEOUT = 1;
const CONNECT_TIMEOUT = 1;
/**
 * Longest any answer may take: a statement the server stopped answering is
 * given up by the client at statement_timeout + 2 s (lib/store/postgres.ts
 * query_timeout); a connection attempt at connect_timeout; plus slack for a
 * loaded 2-core machine.
 */
const MAX_ANSWER_MS = (STATEMENT_TIMEOUT + 2 + CONNECT_TIMEOUT) * 1000 + 2000;
const DOWN_MS = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Client {
  familyId: string;
  token: string;
  /** Every refresh token received, in order (a grace replay repeats one). */
  received: string[];
  ok: number;
  unavailable: number;
  lastOkAt: number;
  /** Set by a 503; cleared when the same token then succeeds. */
  waitingSince: number | undefined;
  retriedAfter503: number;
}

interface Unexpected {
  status: number;
  text: string;
  at: number;
}

let pgi: PgInstance;
let lb: RoundRobinProxy;
let replicas: KubegateServer[] = [];
let seeder: Seeder;

describe.skipIf(unavailable)('PostgreSQL restarted under refresh load, two replicas', () => {
  beforeAll(async () => {
    pgi = await PgInstance.create();
    const postgres = { url: pgi.url(), statement_timeout: `${STATEMENT_TIMEOUT}s`, connect_timeout: `${CONNECT_TIMEOUT}s`, pool_size: 5 };
    const files = [];
    for (const name of ['a', 'b']) files.push(await prepareKubegate({ postgres, idTokenLifetime: 60, reuseGrace: 30, server: { token_rate_limit: LOAD_RATE_LIMIT } }, `kubegate-pgrestart-${name}-`));
    fs.copyFileSync(path.join(files[0]!.dir, 'kubegate.key'), path.join(files[1]!.dir, 'kubegate.key'));
    replicas = files.map((f) => new KubegateServer(f));
    await Promise.all(replicas.map((r) => r.start()));
    lb = await RoundRobinProxy.start({ backends: replicas.map((r) => r.url) });
    seeder = await openSeeder(files[0]!.configPath);
  }, 180_000);

  afterAll(async () => {
    await seeder?.close().catch(() => {});
    await Promise.all(replicas.map((r) => r.stop()));
    await lb?.close();
    await pgi?.destroy();
  });

  it('answers 503 temporarily_unavailable while it is down, recovers fully after each start, and leaves every family intact', async () => {
    const clients: Client[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const who = await seeder.signIn(`alice`);
      const m = await seeder.mint('prod', who);
      clients.push({ familyId: m.family.id, token: m.refreshToken, received: [], ok: 0, unavailable: 0, lastOkAt: 0, waitingSince: undefined, retriedAfter503: 0 });
    }
    const unexpected: Unexpected[] = [];
    const bad503: string[] = [];
    let slowest = 0;
    let stop = false;

    async function drive(c: Client): Promise<void> {
      while (!stop) {
        const started = Date.now();
        let r;
        try {
          r = await kubectlRefresh(lb.url, 'kubernetes', '', c.token);
        } catch (err) {
          unexpected.push({ status: -1, text: String(err), at: started });
          await sleep(100);
          continue;
        }
        slowest = Math.max(slowest, Date.now() - started);
        if (r.status === 200) {
          c.token = r.json.refresh_token as string;
          c.received.push(c.token);
          c.ok++;
          c.lastOkAt = Date.now();
          if (c.waitingSince !== undefined) c.retriedAfter503++;
          c.waitingSince = undefined;
        } else if (r.status === 503) {
          c.unavailable++;
          c.waitingSince ??= started;
          if (r.json.error !== 'temporarily_unavailable') bad503.push(`error ${r.text}`);
          if (!(Number(r.headers.get('retry-after')) >= 1)) bad503.push(`retry-after ${r.headers.get('retry-after')}`);
          if (r.headers.get('cache-control') !== 'no-store') bad503.push(`cache-control ${r.headers.get('cache-control')}`);
          if (r.headers.get('x-proxy-error')) bad503.push('the balancer found no replica');
        } else {
          unexpected.push({ status: r.status, text: r.text, at: started });
        }
        // kubectl would wait Retry-After; a short pause keeps the test short and the load on.
        await sleep(r.status === 200 ? 40 + Math.random() * 40 : 250);
      }
    }

    const timings: Record<string, number> = {};
    const loops = clients.map((c) => drive(c));
    const allRecoveredAfter = async (t: number, label: string) => {
      const deadline = Date.now() + 60_000;
      while (!clients.every((c) => c.lastOkAt > t)) {
        if (Date.now() > deadline) throw new Error(`${label}: not every client succeeded again within 60 s`);
        await sleep(50);
      }
      timings[`${label}_recovery_ms`] = Math.max(...clients.map((c) => c.lastOkAt)) - t;
      timings[`${label}_first_ok_ms`] = Math.min(...clients.map((c) => c.lastOkAt)) - t;
    };
    try {
      await sleep(2000);
      expect(clients.every((c) => c.ok > 0), 'every client refreshes before the outage').toBe(true);
      for (const mode of ['fast', 'immediate'] satisfies StopMode[]) {
        const before503 = clients.reduce((n, c) => n + c.unavailable, 0);
        let t = Date.now();
        await pgi.stop(mode);
        timings[`${mode}_stop_ms`] = Date.now() - t;
        await sleep(DOWN_MS);
        const during503 = clients.reduce((n, c) => n + c.unavailable, 0) - before503;
        timings[`${mode}_503s`] = during503;
        expect(during503, `503s while stopped (${mode})`).toBeGreaterThan(CLIENTS);
        // The processes survived the lost connections.
        for (const r of replicas) expect(r.pid !== undefined && (await fetch(`${r.url}/healthz`)).status).toBe(200);
        t = Date.now();
        await pgi.start();
        timings[`${mode}_start_ms`] = Date.now() - t;
        const up = Date.now();
        await allRecoveredAfter(up, mode);
        await sleep(1500);
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    timings.slowest_answer_ms = slowest;
    timings.refreshes = clients.reduce((n, c) => n + c.ok, 0);
    timings.unavailable = clients.reduce((n, c) => n + c.unavailable, 0);
    timings.retried_after_503 = clients.reduce((n, c) => n + c.retriedAfter503, 0);
    console.log(`postgres-restart timings: ${JSON.stringify(timings)}`);
    if (process.env.KUBEGATE_TEST_TIMINGS_FILE) fs.writeFileSync(process.env.KUBEGATE_TEST_TIMINGS_FILE, JSON.stringify(timings, null, 2));

    expect(unexpected, 'only 200 and 503, never a 500, a 400 or a dropped request').toEqual([]);
    expect(bad503).toEqual([]);
    expect(slowest).toBeLessThan(MAX_ANSWER_MS);
    // Every client that was refused presented the same token again and was served.
    expect(timings.retried_after_503).toBeGreaterThan(0);
    for (const c of clients) expect(c.waitingSince, 'a client still waiting for its retry').toBeUndefined();

    // Every family intact, read straight from the database.
    const db = new pg.Client({ connectionString: pgi.url() });
    await db.connect();
    try {
      for (const c of clients) {
        const fam = (await db.query('select generation, revoked_at, revoke_reason from families where id = $1', [c.familyId])).rows[0];
        expect(fam, c.familyId).toMatchObject({ revoked_at: null, revoke_reason: null });
        const tokens = (await db.query('select hash, generation, used_at from refresh_tokens where family_id = $1 order by generation', [c.familyId])).rows as {
          hash: string;
          generation: number;
          used_at: string | null;
        }[];
        // One token per generation 0..head, every one but the head used: one chain, one live head.
        expect(tokens.map((t) => Number(t.generation))).toEqual(Array.from({ length: Number(fam.generation) + 1 }, (_, g) => g));
        expect(tokens.filter((t) => t.used_at === null).map((t) => Number(t.generation))).toEqual([Number(fam.generation)]);
        // The client holds the head; every successor it received is in the chain, in order.
        const byHash = new Map(tokens.map((t) => [t.hash, Number(t.generation)]));
        expect(byHash.get(hashRefreshToken(c.token))).toBe(Number(fam.generation));
        const gens = c.received.map((t) => byHash.get(hashRefreshToken(t)));
        expect(gens.every((g) => g !== undefined)).toBe(true);
        expect([...new Set(gens)]).toEqual(Array.from({ length: Number(fam.generation) }, (_, g) => g + 1));
      }
      const revoked = await db.query("select count(*)::int as n from families where revoked_at is not null");
      expect(revoked.rows[0].n, 'no family revoked by the outage').toBe(0);
    } finally {
      await db.end();
    }
    // Both replicas served, before and after, and are ready again.
    expect(lb.served('POST /oidc/token').map((s) => s[200] ?? 0).every((n) => n > 0)).toBe(true);
    for (const r of replicas) await expect.poll(async () => (await fetch(`${r.url}/readyz`)).status, { timeout: 15_000 }).toBe(200);
  }, 240_000);
});
