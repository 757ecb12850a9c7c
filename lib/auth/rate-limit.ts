/**
 * Sign-in throttling for local accounts: pure, in memory, with an injected
 * clock. Three limits, each over a sliding window of failures:
 *
 * - per (account, client address): an attacker at one address gets a few
 *   guesses at one account, then that address is refused for that account
 *   while the real user, anywhere else, still signs in;
 * - per client address: one address guessing across many accounts is refused;
 * - per account, a slow-down and never a lock: once an account has collected
 *   many failures from all addresses together (a distributed attack), an
 *   attempt on it from an address it has not signed in from recently must
 *   wait a delay that doubles with each further failure, up to a cap. The
 *   account stays usable: the real user from an address they signed in from
 *   before is not slowed, and anyone else waits seconds, not minutes.
 *
 * A refused attempt never reaches the password check (no guess is tested),
 * and it is reported for audit once per window per throttled key, with the
 * count of refusals since the previous report, not once per request.
 *
 * Several replicas: given a ThrottleLedger (throttle-ledger.ts, on the
 * shared database), failures and trust are shared: `load` before `attempt`
 * replaces this process's view of the three keys by the shared one, and
 * `failed`/`succeeded` record there too (await them), so an attacker spreading
 * guesses over N replicas gets the budget of one. What stays per process:
 * the slot an allowed slowed attempt takes (an account under attack admits
 * at most one attempt per delay per replica) and the audit suppression (a
 * throttled key is reported once per window per replica). Without a ledger
 * (tests, one process) everything is in memory.
 */
import type { ThrottleLedger } from './throttle-ledger';

export interface ThrottleLimits {
  /** Length of the sliding window over which failures count. */
  windowMs: number;
  /** Failures per (account, address) in the window before that pair is refused. */
  perPair: number;
  /** Failures per address (any accounts) in the window before the address is refused. */
  perAddress: number;
  /** Failures on one account (all addresses) in the window before attempts on it are slowed down. */
  accountSlowAfter: number;
  /** First delay between slowed attempts on an account; doubles with each further failure. */
  accountDelayMs: number;
  /** Longest delay between slowed attempts on an account. */
  accountMaxDelayMs: number;
  /** How long a successful sign-in exempts its (account, address) from the account slow-down. */
  trustMs: number;
  /** Bound on remembered keys, so a flood of names cannot grow memory without limit. */
  maxKeys: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = {
  windowMs: 15 * 60_000,
  perPair: 5,
  perAddress: 30,
  accountSlowAfter: 10,
  accountDelayMs: 1_000,
  accountMaxDelayMs: 30_000,
  trustMs: 30 * 86_400_000,
  maxKeys: 50_000,
};

/** Which limit refused an attempt. */
export type ThrottleScope = 'account_address' | 'address' | 'account';

export type ThrottleDecision =
  | { allowed: true }
  | {
      allowed: false;
      scope: ThrottleScope;
      /** Milliseconds until the same attempt could be allowed. */
      retryAfterMs: number;
      /**
       * Report this refusal (an audit row): true for the first refusal of this
       * key in a window, false for the rest.
       */
      audit: boolean;
      /** With `audit`: refusals of this key not reported since the previous report. */
      suppressed: number;
    };

interface AccountState {
  failures: number[];
  /** Earliest time the next slowed attempt on this account may start. */
  nextSlowedAt: number;
}

interface AuditState {
  /** Refusals of this key are reported again from this time on. */
  quietUntil: number;
  suppressed: number;
}

/** Client addresses are compared as given; a missing one is its own (shared) address. */
const addressKey = (address: string | null | undefined) => address || 'unknown';

export class SignInThrottle {
  private readonly limits: ThrottleLimits;
  private readonly pairs = new Map<string, number[]>();
  private readonly addresses = new Map<string, number[]>();
  private readonly accounts = new Map<string, AccountState>();
  private readonly trusted = new Map<string, number>();
  private readonly audits = new Map<string, AuditState>();

  constructor(
    private readonly now: () => number,
    limits: Partial<ThrottleLimits> = {},
    private readonly ledger?: ThrottleLedger,
  ) {
    this.limits = { ...DEFAULT_THROTTLE_LIMITS, ...limits };
  }

  /**
   * With a ledger: takes the shared failures of the account, the address and
   * the pair, and the pair's trust, as this process's (every process's
   * failures are in the ledger, its own too). Call before `attempt`.
   */
  async load(account: string, address: string | null | undefined): Promise<void> {
    if (!this.ledger) return;
    const now = this.now();
    const addr = addressKey(address);
    const pair = pairKey(account, addr);
    const [lists, trustedUntil] = await Promise.all([
      this.ledger.failures([ledgerKey.pair(pair), ledgerKey.address(addr), ledgerKey.account(account)], now),
      this.ledger.trustedUntil(pair, now),
    ]);
    const since = now - this.limits.windowMs;
    const recent = (k: string, keep: number) => (lists.get(k) ?? []).filter((t) => t > since && t <= now).slice(-keep);
    const put = (map: Map<string, number[]>, key: string, list: number[]) => {
      map.delete(key);
      if (list.length) map.set(key, list);
    };
    put(this.pairs, pair, recent(ledgerKey.pair(pair), this.limits.perPair));
    put(this.addresses, addr, recent(ledgerKey.address(addr), this.limits.perAddress));
    const state = this.accountState(account, now);
    state.failures = recent(ledgerKey.account(account), this.limits.accountSlowAfter + 32);
    const delay = this.accountDelay(state.failures.length);
    if (delay > 0) state.nextSlowedAt = Math.max(state.nextSlowedAt, state.failures.at(-1)! + delay);
    this.accounts.delete(account);
    this.accounts.set(account, state);
    if (trustedUntil !== undefined && trustedUntil > (this.trusted.get(pair) ?? 0)) {
      this.trusted.delete(pair);
      this.trusted.set(pair, trustedUntil);
    }
    this.bound();
  }

  /**
   * Asks to try a password for `account` from `address`. When allowed under
   * the account slow-down, the slot is taken now, so concurrent attempts
   * cannot all slip through at once. Follow with `failed` or `succeeded`.
   */
  attempt(account: string, address: string | null | undefined): ThrottleDecision {
    const now = this.now();
    const addr = addressKey(address);
    const pair = pairKey(account, addr);
    const { windowMs, perPair, perAddress } = this.limits;

    const pairFailures = this.recent(this.pairs, pair, now);
    if (pairFailures.length >= perPair) return this.refuse('account_address', pair, pairFailures[0]! + windowMs - now, now);
    const addressFailures = this.recent(this.addresses, addr, now);
    if (addressFailures.length >= perAddress) return this.refuse('address', addr, addressFailures[0]! + windowMs - now, now);

    if (!this.isTrusted(pair, now)) {
      const state = this.accountState(account, now);
      const delay = this.accountDelay(state.failures.length);
      if (delay > 0) {
        if (now < state.nextSlowedAt) return this.refuse('account', account, state.nextSlowedAt - now, now);
        state.nextSlowedAt = now + delay;
      }
    }
    return { allowed: true };
  }

  /** A wrong password (or unknown account) after an allowed attempt. With a ledger, await it: it records there too. */
  failed(account: string, address: string | null | undefined): Promise<void> {
    const now = this.now();
    const addr = addressKey(address);
    const recorded = this.ledger?.recordFailure(
      [ledgerKey.pair(pairKey(account, addr)), ledgerKey.address(addr), ledgerKey.account(account)],
      now,
      now + this.limits.windowMs,
    );
    this.push(this.pairs, pairKey(account, addr), now, this.limits.perPair);
    this.push(this.addresses, addr, now, this.limits.perAddress);
    const state = this.accountState(account, now);
    state.failures.push(now);
    // Enough to reach the longest delay; older entries change nothing.
    const cap = this.limits.accountSlowAfter + 32;
    if (state.failures.length > cap) state.failures.splice(0, state.failures.length - cap);
    const delay = this.accountDelay(state.failures.length);
    if (delay > 0) state.nextSlowedAt = Math.max(state.nextSlowedAt, now + delay);
    this.accounts.delete(account);
    this.accounts.set(account, state);
    this.bound();
    return recorded ?? Promise.resolve();
  }

  /**
   * The right password: this pair's failures are forgotten and the address is
   * trusted for this account (exempt from the account slow-down) for a while.
   * The account's and the address's failures stay: an attack on the account
   * does not stop because its owner signed in.
   */
  succeeded(account: string, address: string | null | undefined): Promise<void> {
    const now = this.now();
    const pair = pairKey(account, addressKey(address));
    this.pairs.delete(pair);
    this.trusted.delete(pair);
    this.trusted.set(pair, now + this.limits.trustMs);
    this.bound();
    if (!this.ledger) return Promise.resolve();
    return Promise.all([this.ledger.clear(ledgerKey.pair(pair)), this.ledger.trust(pair, now, now + this.limits.trustMs)]).then(() => undefined);
  }

  /** The delay between slowed attempts for an account with `failures` recent failures (0: not slowed). */
  accountDelay(failures: number): number {
    const over = failures - this.limits.accountSlowAfter;
    if (over < 0) return 0;
    return Math.min(this.limits.accountMaxDelayMs, this.limits.accountDelayMs * 2 ** Math.min(over, 30));
  }

  private refuse(scope: ThrottleScope, key: string, retryAfterMs: number, now: number): ThrottleDecision {
    const id = `${scope}\u0000${key}`;
    const state = this.audits.get(id);
    if (state && now < state.quietUntil) {
      state.suppressed++;
      return { allowed: false, scope, retryAfterMs: Math.max(1, retryAfterMs), audit: false, suppressed: 0 };
    }
    const suppressed = state?.suppressed ?? 0;
    this.audits.delete(id);
    this.audits.set(id, { quietUntil: now + this.limits.windowMs, suppressed: 0 });
    this.bound();
    return { allowed: false, scope, retryAfterMs: Math.max(1, retryAfterMs), audit: true, suppressed };
  }

  private isTrusted(pair: string, now: number): boolean {
    const until = this.trusted.get(pair);
    if (until === undefined) return false;
    if (now < until) return true;
    this.trusted.delete(pair);
    return false;
  }

  private accountState(account: string, now: number): AccountState {
    const state = this.accounts.get(account) ?? { failures: [], nextSlowedAt: 0 };
    const since = now - this.limits.windowMs;
    const firstRecent = state.failures.findIndex((t) => t > since);
    if (firstRecent !== 0) state.failures.splice(0, firstRecent === -1 ? state.failures.length : firstRecent);
    return state;
  }

  /** Failures of `key` still inside the window (pruned in place). */
  private recent(map: Map<string, number[]>, key: string, now: number): number[] {
    const list = map.get(key);
    if (!list) return [];
    const since = now - this.limits.windowMs;
    const firstRecent = list.findIndex((t) => t > since);
    if (firstRecent === -1) {
      map.delete(key);
      return [];
    }
    if (firstRecent > 0) list.splice(0, firstRecent);
    return list;
  }

  private push(map: Map<string, number[]>, key: string, now: number, limit: number): void {
    const list = this.recent(map, key, now);
    list.push(now);
    // Only the newest `limit` matter: the refusal starts at the limit and ends when the oldest of them ages out.
    if (list.length > limit) list.splice(0, list.length - limit);
    map.delete(key);
    map.set(key, list);
  }

  /**
   * Keeps every map within maxKeys: drops what has aged out, then, if an
   * attacker still floods us with names, the oldest-touched entries (Map
   * iteration is insertion order, and every update re-inserts).
   */
  private bound(): void {
    const { maxKeys, windowMs } = this.limits;
    const maps: Map<string, unknown>[] = [this.pairs, this.addresses, this.accounts, this.trusted, this.audits];
    if (!maps.some((m) => m.size > maxKeys)) return;
    const now = this.now();
    const since = now - windowMs;
    for (const [k, v] of this.pairs) if (v.at(-1)! <= since) this.pairs.delete(k);
    for (const [k, v] of this.addresses) if (v.at(-1)! <= since) this.addresses.delete(k);
    for (const [k, v] of this.accounts) if ((v.failures.at(-1) ?? 0) <= since && v.nextSlowedAt <= now) this.accounts.delete(k);
    for (const [k, until] of this.trusted) if (until <= now) this.trusted.delete(k);
    for (const [k, v] of this.audits) if (v.quietUntil <= now) this.audits.delete(k);
    for (const m of maps) {
      for (const k of m.keys()) {
        if (m.size <= maxKeys) break;
        m.delete(k);
      }
    }
  }
}

const pairKey = (account: string, address: string) => `${account}\u0000${address}`;

/** The three kinds of key, told apart in the ledger. */
const ledgerKey = {
  pair: (pair: string) => `pair\u0000${pair}`,
  address: (address: string) => `address\u0000${address}`,
  account: (account: string) => `account\u0000${account}`,
};
