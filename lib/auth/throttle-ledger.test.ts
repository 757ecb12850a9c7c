import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite';
import type { Store } from '../store/types';
import { DEFAULT_THROTTLE_LIMITS, SignInThrottle, type ThrottleDecision } from './rate-limit';
import { storeLedger } from './throttle-ledger';

/**
 * Two replicas, each its own SignInThrottle and its own connections to one
 * database (a SQLite file opened twice, as two processes would), an attacker
 * sending each guess to the next replica, as a round-robin balancer does.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-ledger-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let t = Date.UTC(2031, 0, 1);
const now = () => t;
let stores: Store[] = [];
let replicas: SignInThrottle[] = [];
let file: string;
beforeEach(async () => {
  file = path.join(tmp, randomUUID(), 'kubegate.db');
  const first = await openSqliteStore(file, { synchronous: 'normal' });
  stores = [first, await openSqliteStore(file, { synchronous: 'normal' })];
  replicas = stores.map((s) => new SignInThrottle(now, {}, storeLedger(s, 'signin')));
});
afterEach(async () => {
  await Promise.all(stores.map((s) => s.close()));
});

/** A wrong password at replica `i`, as lib/upstream/sign-in.ts runs it. */
async function guess(i: number, account: string, address: string): Promise<ThrottleDecision> {
  const throttle = replicas[i % replicas.length]!;
  await throttle.load(account, address);
  const d = throttle.attempt(account, address);
  if (d.allowed) await throttle.failed(account, address);
  t += 10;
  return d;
}

async function signIn(i: number, account: string, address: string): Promise<ThrottleDecision> {
  const throttle = replicas[i % replicas.length]!;
  await throttle.load(account, address);
  const d = throttle.attempt(account, address);
  if (d.allowed) await throttle.succeeded(account, address);
  t += 10;
  return d;
}

describe('sign-in throttle shared by replicas', () => {
  // Regression: each replica counted alone, so N replicas gave an attacker N times the guesses.
  it('an attacker alternating between replicas gets the guesses of one (account, address) budget, not one per replica', async () => {
    const allowed: boolean[] = [];
    for (let i = 0; i < 4 * DEFAULT_THROTTLE_LIMITS.perPair; i++) allowed.push((await guess(i, 'local:root', '203.0.113.9')).allowed);
    expect(allowed.filter(Boolean)).toHaveLength(DEFAULT_THROTTLE_LIMITS.perPair);
    for (const i of [0, 1]) expect(await guess(i, 'local:root', '203.0.113.9')).toMatchObject({ allowed: false, scope: 'account_address' });
    // The owner, elsewhere, still signs in at either replica.
    expect(await signIn(1, 'local:root', '198.51.100.7')).toEqual({ allowed: true });
  });

  it('counts one address guessing across accounts at every replica', async () => {
    let allowed = 0;
    for (let i = 0; i < 2 * DEFAULT_THROTTLE_LIMITS.perAddress; i++) if ((await guess(i, `local:user${i}`, '203.0.113.77')).allowed) allowed++;
    expect(allowed).toBe(DEFAULT_THROTTLE_LIMITS.perAddress);
    expect(await guess(0, 'local:someone-else', '203.0.113.77')).toMatchObject({ allowed: false, scope: 'address' });
  });

  it('slows an account down from the failures of every replica together, but not its owner, trusted after a sign-in at another replica', async () => {
    expect(await signIn(0, 'local:root', '198.51.100.7')).toEqual({ allowed: true });
    // A distributed attack: one guess per address, spread over both replicas.
    for (let i = 0; i < DEFAULT_THROTTLE_LIMITS.accountSlowAfter; i++) expect((await guess(i, 'local:root', `203.0.113.${i + 1}`)).allowed).toBe(true);
    // The next guess from a new address, at either replica, must wait.
    expect(await guess(1, 'local:root', '203.0.113.200')).toMatchObject({ allowed: false, scope: 'account' });
    // The owner, trusted for the address they signed in from (at replica 0), is not slowed at replica 1.
    expect(await signIn(1, 'local:root', '198.51.100.7')).toEqual({ allowed: true });
  });

  it('the right password at one replica clears that pair at every replica', async () => {
    for (let i = 0; i < DEFAULT_THROTTLE_LIMITS.perPair - 1; i++) expect((await guess(i, 'local:alice', '192.0.2.5')).allowed).toBe(true);
    expect(await signIn(0, 'local:alice', '192.0.2.5')).toEqual({ allowed: true });
    for (let i = 0; i < DEFAULT_THROTTLE_LIMITS.perPair; i++) expect((await guess(1, 'local:alice', '192.0.2.5')).allowed).toBe(true);
    expect((await guess(0, 'local:alice', '192.0.2.5')).allowed).toBe(false);
  });

  it('forgets failures when they leave the window, and stores no account name or address in the clear', async () => {
    for (let i = 0; i < DEFAULT_THROTTLE_LIMITS.perPair; i++) await guess(i, 'local:bob', '192.0.2.9');
    expect((await guess(0, 'local:bob', '192.0.2.9')).allowed).toBe(false);
    t += DEFAULT_THROTTLE_LIMITS.windowMs;
    expect((await guess(1, 'local:bob', '192.0.2.9')).allowed).toBe(true);
    const counts = await stores[0]!.prune({ now: t, retainAfter: 0, limit: 1000 });
    expect(counts.ephemeral).toBeGreaterThan(0);
    // Nothing in the ephemeral table names the account or the address.
    const conn = new Database(file, { readonly: true });
    try {
      const text = JSON.stringify(conn.prepare('select * from ephemeral').all());
      expect(text).not.toMatch(/bob|192\.0\.2\.9|root|203\.0\.113/);
    } finally {
      conn.close();
    }
  });
});
