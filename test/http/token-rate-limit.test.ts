/**
 * The token endpoint's rate limits and coalesced denial audit, against the
 * built server with the default limits. Its own server: the last test stops
 * it to see the audit rows flushed at shutdown, and the shared one must not
 * be rate-limited for the other files.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOAuthError } from './support/assert';
import { kubectlRefresh, type TokenCall } from './support/client';
import { KubegateServer, prepareKubegate } from './support/kubegate';
import { openSeeder, readFamilyRow, type Seeder } from './support/seed';

let server: KubegateServer;
let seeder: Seeder;

beforeAll(async () => {
  server = new KubegateServer(await prepareKubegate({ idTokenLifetime: 60, reuseGrace: 2 }, 'kubegate-ratelimit-'));
  await server.start();
  seeder = await openSeeder(server.files.configPath);
});

afterAll(async () => {
  await seeder?.close();
  await server?.stop({ keepFiles: process.env.KEEP_HTTP_TEST_FILES === '1' });
});

/** Requests in the hammering loop (the issue saw 2 824; the unit test sends exactly that many). */
const HAMMER = 1000;

function auditRows(familyId: string): Array<{ kind: string; details: Record<string, unknown> }> {
  const db = new Database(server.files.dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('select kind, details from audit_events where family_id = ? order by at, id').all(familyId) as Array<{ kind: string; details: string }>;
    return rows.map((r) => ({ kind: r.kind, details: JSON.parse(r.details) as Record<string, unknown> }));
  } finally {
    db.close();
  }
}

describe('rate limits on POST /oidc/token', () => {
  it('50 people behind one address, and 8 tools racing on one credential, are never limited', async () => {
    const people: string[] = [];
    for (let i = 0; i < 50; i++) people.push((await seeder.mint('prod', await seeder.signIn('alice'))).refreshToken);
    const statuses: number[] = [];
    // Three refresh rounds, everyone at once (as after a shared expiry), each answer's token used in the next.
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(people.map((t) => kubectlRefresh(server.url, 'kubernetes', '', t)));
      answers.forEach((a, i) => {
        statuses.push(a.status);
        people[i] = a.json.refresh_token as string;
      });
    }
    // One person's tools all refresh with the same token at the same instant.
    const racing = await Promise.all(Array.from({ length: 8 }, () => kubectlRefresh(server.url, 'kubernetes', '', people[0]!)));
    statuses.push(...racing.map((r) => r.status));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(new Set(racing.map((r) => r.json.refresh_token)).size).toBe(1);
  });

  // Regression: 2 824 requests with one revoked token wrote 2 824 audit rows,
  // each a synced write, and nothing slowed the client down.
  it('cuts off a loop hammering one revoked token with 429 + Retry-After, and audits it as one row with the count', async () => {
    const minted = await seeder.mint('prod');
    await seeder.store.revokeFamily(minted.family.id, 'revoked_by_user', Date.now(), { kind: 'family.revoked', family_id: minted.family.id });
    const counts = new Map<number, number>();
    let last!: TokenCall;
    for (let i = 0; i < HAMMER; i++) {
      last = await kubectlRefresh(server.url, 'kubernetes', '', minted.refreshToken);
      counts.set(last.status, (counts.get(last.status) ?? 0) + 1);
    }
    // The burst (30) answers what happened; the rest are told to slow down.
    // (The bucket refills at 30 a minute while the loop runs: a few more 400s.)
    const refused = counts.get(400) ?? 0;
    expect(refused).toBeGreaterThanOrEqual(30);
    expect(refused).toBeLessThan(30 + 30);
    expect(counts.get(429)).toBe(HAMMER - refused);
    expectOAuthError(last, 429, 'slow_down', /^too many token requests for this credential; retry in \d+ seconds?$/);
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    // The refusals wrote nothing while they ran (the background flush, once a
    // minute, may have written one row), and shutdown writes what is pending.
    const denied = () => auditRows(minted.family.id).filter((r) => r.kind === 'token.refresh_denied');
    expect(denied().length).toBeLessThanOrEqual(1);
    await server.kill('SIGTERM');
    const rows = denied();
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeLessThanOrEqual(2);
    const sum = (f: (d: Record<string, unknown>) => unknown) => rows.reduce((n, r) => n + Number(f(r.details) ?? 0), 0);
    expect(sum((d) => d.count)).toBe(HAMMER);
    expect(sum((d) => (d.reasons as Record<string, number>).family_revoked)).toBe(refused);
    expect(sum((d) => (d.reasons as Record<string, number>).rate_limited)).toBe(HAMMER - refused);
    expect(rows[0]!.details).toMatchObject({ reason: 'family_revoked' });
    expect(readFamilyRow(server.files.dbPath, minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_user' });
  });
});
