/**
 * SIGTERM in the middle of refresh load (what Kubernetes sends on a rolling
 * update): every refresh the server accepted gets its whole 200, a request
 * after the listener closed is refused cleanly (no response begun), every
 * family's head in the SQLite file afterwards is the last refresh token a
 * client received (nothing half-rotated), and the process exits 0.
 * Runs its own server.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, form } from './support/client';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { openSeeder, readFamilyRow, readTokenRow, type Seeder } from './support/seed';

let server: KubegateServer;
let seeder: Seeder;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ idTokenLifetime: 60, reuseGrace: 2, server: { shutdown_grace: '10s', token_rate_limit: { per_credential: { burst: 100000, per_minute: 100000 } } } }, 'kubegate-shutdown-'));
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

type Outcome =
  | { kind: 'ok'; refreshToken: string; startedAt: number; endedAt: number }
  | { kind: 'refused'; error: string }
  | { kind: 'broken'; detail: string };

/** One refresh as kubectl sends it, on a keep-alive agent; classifies how it ended. */
function refresh(url: URL, token: string, agent: http.Agent): Promise<Outcome> {
  const body = form({ grant_type: 'refresh_token', refresh_token: token });
  const startedAt = Date.now();
  return new Promise((resolve) => {
    let began = false;
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: '/oidc/token',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), authorization: basic('kubernetes', '') },
      },
      (res) => {
        began = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => resolve({ kind: 'broken', detail: `reset mid-response: ${err.message}` }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (!res.complete) return resolve({ kind: 'broken', detail: `incomplete response (${text.length} bytes)` });
          if (res.statusCode !== 200) return resolve({ kind: 'broken', detail: `status ${res.statusCode}: ${text}` });
          try {
            resolve({ kind: 'ok', refreshToken: (JSON.parse(text) as { refresh_token: string }).refresh_token, startedAt, endedAt: Date.now() });
          } catch {
            resolve({ kind: 'broken', detail: `not JSON: ${text.slice(0, 80)}` });
          }
        });
      },
    );
    // No response begun: the request never reached a handler (a closed listener, or an idle
    // connection closed as it was reused); the client may retry it. After a response began: broken.
    req.on('error', (err) => resolve(began ? { kind: 'broken', detail: `error after response began: ${err.message}` } : { kind: 'refused', error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end(body);
  });
}

describe('graceful shutdown under refresh load', () => {
  it('finishes accepted refreshes whole, leaves every family at the token its client holds, and exits 0', async () => {
    const CHAINS = 50;
    const families = await Promise.all(Array.from({ length: CHAINS }, () => seeder.mint('prod')));
    await seeder.close();
    const url = new URL(server.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CHAINS });

    let signalledAt = 0;
    const chains = families.map(async ({ refreshToken }) => {
      let held = refreshToken;
      const outcomes: Outcome[] = [];
      for (;;) {
        const o = await refresh(url, held, agent);
        outcomes.push(o);
        if (o.kind !== 'ok') break;
        held = o.refreshToken;
      }
      return { held, outcomes };
    });
    // Let the load run, then SIGTERM in the middle of it.
    await new Promise((r) => setTimeout(r, 1500));
    signalledAt = Date.now();
    await server.kill('SIGTERM');
    const results = await Promise.all(chains);
    agent.destroy();

    expect(server.lastExit, server.tail()).toEqual({ code: 0, signal: null });
    const all = results.flatMap((r) => r.outcomes);
    const broken = all.filter((o) => o.kind === 'broken');
    expect(broken, JSON.stringify(broken.slice(0, 5))).toEqual([]);
    const ok = all.filter((o): o is Extract<Outcome, { kind: 'ok' }> => o.kind === 'ok');
    expect(ok.length).toBeGreaterThan(CHAINS);
    // Requests in flight when the signal came were answered, not dropped.
    expect(ok.filter((o) => o.startedAt < signalledAt && o.endedAt >= signalledAt).length).toBeGreaterThan(0);

    // Every family's head is the token its client holds: no successor was committed without its response arriving.
    const { dbPath } = server.files;
    for (const [i, r] of results.entries()) {
      const row = readTokenRow(dbPath, r.held);
      const family = readFamilyRow(dbPath, families[i]!.family.id);
      expect(row, `chain ${i}`).toBeDefined();
      expect(row!.used_at, `chain ${i}: the token it holds was rotated without the client receiving the successor`).toBeNull();
      expect(family).toMatchObject({ generation: row!.generation, revoked_at: null });
    }

    // The drain is logged, and the process shut down within its grace.
    const log = server.tail(400);
    expect(log).toMatch(/"msg":"shutting down"/);
    expect(log).toMatch(/"msg":"shut down"/);
  });
});
