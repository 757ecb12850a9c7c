/**
 * `kill -9` of the built server while many kubectl users refresh at once,
 * then a restart on the same files: nothing a client was told is lost, and
 * nothing is half done.
 *
 * The contract, per refresh-token family, with `L` the last refresh_token
 * its client received (generation d) and possibly one request with `L`
 * unanswered when the process died:
 *
 * - Every answer sent is durable: the family's generation is d, or d + 1
 *   only if a request with L was in flight (its rotation committed, the
 *   process died before the answer left). Never less than d, never L
 *   unknown.
 * - Never half-rotated: exactly one unused token (the head), at the
 *   family's generation; never revoked by the crash.
 * - The client whose answer was lost does what kubectl does on its next
 *   run: it presents L again. Within `issuer.refresh_reuse_grace` of the
 *   lost rotation that is a replay: it gets the successor that was
 *   committed (the same token, no second rotation) and the chain goes on.
 *   After the grace, L is a spent token presented again, which the server
 *   cannot tell from a stolen copy: the family is revoked (reuse
 *   detection) and kubectl is told to get a new credential. So a restart
 *   must come back within the grace for nobody to lose a credential; with
 *   replicas another replica answers at once.
 * - A client that got no answer and whose rotation did not commit simply
 *   refreshes L again.
 *
 * A server that answered before its rotation committed fails the first
 * point (a 200 whose token is unknown after the restart). Tried with a
 * build whose refresh did not await `rotateRefreshToken`: both tests fail
 * ("the refresh token is not known here" for a token a client had received).
 */
import fs from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashRefreshToken } from '../../lib/oidc/refresh-tokens';
import { expectOAuthError } from './support/assert';
import { chainDefect, drive, newChain, readFamilyChains, step, type Chain, type FamilyChain } from './support/chains';
import { kubectlRefresh } from './support/client';
import { KubegateServer, LOAD_RATE_LIMIT, prepareKubegate } from './support/kubegate';
import { openSeeder } from './support/seed';

const CHAINS = 64;
/** The first round's grace: longer than a restart on a busy 2-core machine (up to 16 s seen). */
const GRACE_S = 120;
/** The second round's grace, short enough to wait out. */
const SHORT_GRACE_S = 3;

/** issuer.refresh_reuse_grace in the server's config, for its next start. */
function setGrace(seconds: number): void {
  const config = JSON.parse(fs.readFileSync(server.files.configPath, 'utf8')) as { issuer: Record<string, unknown> };
  config.issuer.refresh_reuse_grace = `${seconds}s`;
  fs.writeFileSync(server.files.configPath, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
}

let server: KubegateServer;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ idTokenLifetime: 60, reuseGrace: GRACE_S, synchronous: 'full', server: { token_rate_limit: LOAD_RATE_LIMIT } }, 'kubegate-faults-kill-'));
  await server.start();
});

afterAll(async () => {
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

async function seedChains(n: number): Promise<Chain[]> {
  const seeder = await openSeeder(server.files.configPath);
  try {
    const who = await seeder.signIn('alice');
    return (await Promise.all(Array.from({ length: n }, () => seeder.mint('prod', who)))).map((m) => newChain(m.family.id, m.refreshToken));
  } finally {
    // The seeder's connection must not be what keeps the WAL alive across the crash.
    await seeder.close();
  }
}

type Fate = 'intact' | 'committed_unanswered' | 'uncommitted_unanswered';

/**
 * What the crash left of each chain, checked against the contract above;
 * returns each chain's fate and the head token's hash.
 */
function fatesAfterCrash(chains: Chain[]): Array<{ fate: Fate; head: FamilyChain['live'][number] }> {
  const families = readFamilyChains(server.files.dbPath);
  return chains.map((c, i) => {
    const f = families.get(c.family);
    const where = `chain ${i}: client at generation ${c.done}, ${c.unanswered ? 'one request unanswered' : 'nothing in flight'}; family ${JSON.stringify(f)}`;
    expect(f, where).toBeDefined();
    expect(f!.revoked_at, where).toBeNull();
    expect(f!.live, where).toHaveLength(1);
    const head = f!.live[0]!;
    expect(head.generation, where).toBe(f!.generation);
    if (f!.generation === c.done) {
      expect(head.hash, where).toBe(hashRefreshToken(c.token));
      return { fate: c.unanswered ? 'uncommitted_unanswered' : 'intact', head };
    }
    // Only a request in flight may have moved the family on, by one generation.
    expect(c.unanswered, where).toBe(c.token);
    expect(f!.generation, where).toBe(c.done + 1);
    return { fate: 'committed_unanswered', head };
  });
}

async function loadThenKill(chains: Chain[], loadMs: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CHAINS });
  let killedAt = 0;
  const load = drive(agent, server.url, chains, () => false, (c, r) => {
    if (r.status !== 200) c.violations.push(`${r.status} ${r.body.slice(0, 200)}`);
  });
  const start = chains.map((c) => c.done);
  await new Promise((resolve) => setTimeout(resolve, loadMs));
  // The load is running: every chain has refreshed at least once more (a busy machine may take longer).
  const deadline = Date.now() + 20_000;
  while (chains.some((c, i) => c.done === start[i]) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(chains.filter((c, i) => c.done === start[i]).length, 'chains that never refreshed before the kill').toBe(0);
  await server.kill('SIGKILL');
  killedAt = Date.now();
  // Every chain's request now fails (reset or refused): drive returns.
  await load;
  agent.destroy();
  for (const c of chains) expect(c.violations, c.family).toEqual([]);
  return killedAt;
}

function count(fates: Array<{ fate: Fate }>): Record<Fate, number> {
  const out: Record<Fate, number> = { intact: 0, committed_unanswered: 0, uncommitted_unanswered: 0 };
  for (const f of fates) out[f.fate]++;
  return out;
}

describe('kill -9 under concurrent refresh load', () => {
  let chains: Chain[];
  let lostWithinGrace = 0;

  it('keeps every answered rotation, half-rotates nothing, and a lost answer is replayed within the grace', async () => {
    chains = await seedChains(CHAINS);
    const killedAt = await loadThenKill(chains, 2500);

    const fates = fatesAfterCrash(chains);
    const counts = count(fates);
    lostWithinGrace = counts.committed_unanswered;
    console.info(`kill -9 round 1: ${chains.reduce((n, c) => n + c.done, 0)} refreshes answered before the kill; fates ${JSON.stringify(counts)}`);

    await server.start();
    const restartMs = Date.now() - killedAt;
    console.info(`kill -9 round 1: back ${restartMs} ms after the kill`);
    expect(restartMs, 'restarted within the grace').toBeLessThan((GRACE_S - 5) * 1000);

    const agent = new http.Agent({ keepAlive: true });
    await Promise.all(
      chains.map(async (c, i) => {
        const { fate, head } = fates[i]!;
        // kubectl's next run presents the token it holds, whether or not its last request was answered.
        const r = await step(agent, server.url, c);
        expect(r?.status, `${fate}: ${r?.body}`).toBe(200);
        // The lost rotation's successor, not a second rotation.
        if (fate === 'committed_unanswered') expect(hashRefreshToken(c.token)).toBe(head.hash);
      }),
    );
    // And every chain goes on.
    await Promise.all(chains.map(async (c) => expect((await step(agent, server.url, c))?.status).toBe(200)));
    agent.destroy();

    const families = readFamilyChains(server.files.dbPath);
    for (const c of chains) expect(chainDefect(c, families.get(c.family)), c.family).toBeUndefined();
  });

  it('a lost answer presented again only after the grace revokes that family as reuse; every other chain goes on', async () => {
    const killedAt = await loadThenKill(chains, 2000);
    const fates = fatesAfterCrash(chains);
    const counts = count(fates);
    console.info(`kill -9 round 2: fates ${JSON.stringify(counts)}`);
    // Under this load some rotation is almost always between its commit and its answer; over two kills, at least one.
    expect(lostWithinGrace + counts.committed_unanswered, 'a kill landed between a commit and its answer').toBeGreaterThan(0);

    setGrace(SHORT_GRACE_S);
    await server.start();
    const wait = killedAt + (SHORT_GRACE_S + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));

    const agent = new http.Agent({ keepAlive: true });
    await Promise.all(
      chains.map(async (c, i) => {
        const { fate } = fates[i]!;
        const presented = c.token;
        const r = await kubectlRefresh(server.url, 'kubernetes', '', presented);
        if (fate === 'committed_unanswered') {
          expectOAuthError(r, 400, 'invalid_grant', /already used.*revoked/);
          const f = readFamilyChains(server.files.dbPath).get(c.family)!;
          expect(f.revoke_reason).toBe('refresh_token_reuse');
          expect(f.live).toHaveLength(1); // revoked, not rotated
        } else {
          expect(r.status, r.text).toBe(200);
          c.token = r.json.refresh_token as string;
          c.done++;
          c.unanswered = undefined;
          expect((await step(agent, server.url, c))?.status).toBe(200);
        }
      }),
    );
    agent.destroy();
    const families = readFamilyChains(server.files.dbPath);
    chains.forEach((c, i) => {
      if (fates[i]!.fate !== 'committed_unanswered') expect(chainDefect(c, families.get(c.family)), c.family).toBeUndefined();
    });
  });
});
