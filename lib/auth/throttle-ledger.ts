import { createHash, randomUUID } from 'node:crypto';
import type { Store } from '../store/types';

/**
 * Where SignInThrottle (rate-limit.ts) shares what it counts with every other
 * process on the same database, so N replicas do not give an attacker N
 * times the guess budget: the failures of each key (an account, an address,
 * an account at an address), and until when an (account, address) pair is
 * trusted after a sign-in.
 */
export interface ThrottleLedger {
  /** Each key's failures still in the window (times, oldest first). */
  failures(keys: readonly string[], now: number): Promise<Map<string, number[]>>;
  /** One failure of each key at `now`, remembered until `expiresAt`. */
  recordFailure(keys: readonly string[], now: number, expiresAt: number): Promise<void>;
  /** Forgets a key's failures (the right password for this pair). */
  clear(key: string): Promise<void>;
  /** The pair is trusted until `until`. */
  trust(key: string, now: number, until: number): Promise<void>;
  /** Until when the pair is trusted (undefined: it is not). */
  trustedUntil(key: string, now: number): Promise<number | undefined>;
}

/** Keys hold account names and addresses: stored hashed, bounded in length. */
const digest = (key: string) => createHash('sha256').update(key).digest('base64url');

/**
 * The ledger on the store's ephemeral records: one record per failure (in a
 * namespace per key, expiring with the window), so counting is a read of
 * one namespace and recording is one insert; pruning removes what expired.
 * Written only when a guess fails or a sign-in succeeds, never on the token
 * endpoint.
 */
export function storeLedger(store: Store, prefix: string): ThrottleLedger {
  const failuresNs = (key: string) => `${prefix}.fail:${digest(key)}`;
  const trustNs = (key: string) => `${prefix}.trust:${digest(key)}`;
  return {
    async failures(keys, now) {
      const lists = await Promise.all(keys.map((k) => store.listEphemeral(failuresNs(k), now)));
      return new Map(keys.map((k, i) => [k, lists[i]!.map((r) => Number(r.value)).sort((a, b) => a - b)]));
    },
    async recordFailure(keys, now, expiresAt) {
      await Promise.all(keys.map((k) => store.putEphemeral(failuresNs(k), randomUUID(), String(now), expiresAt, now)));
    },
    async clear(key) {
      await store.deleteEphemeralNamespace(failuresNs(key));
    },
    async trust(key, now, until) {
      await store.putEphemeral(trustNs(key), randomUUID(), String(until), until, now);
    },
    async trustedUntil(key, now) {
      const marks = await store.listEphemeral(trustNs(key), now);
      return marks.length ? Math.max(...marks.map((m) => Number(m.value))) : undefined;
    },
  };
}
