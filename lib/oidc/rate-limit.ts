/**
 * Token buckets keyed by string, in memory, with the clock passed to every
 * call: pure enough to test with a fake clock, O(1) per call.
 *
 * A bucket holds up to `burst` tokens and refills at `perMinute`. The map is
 * capped at `maxKeys`, evicting the least recently used key: usually one
 * whose bucket has long refilled, which is the same as an absent key. (A
 * flood of new keys can reset an old key's bucket: the price of bounded
 * memory.)
 */
export interface BucketPolicy {
  /** Requests allowed at once, after a quiet period. */
  burst: number;
  /** Sustained rate. */
  perMinute: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

const OK: Admission = { ok: true };

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly policy: BucketPolicy,
    private readonly maxKeys = 100_000,
  ) {
    if (!(policy.burst >= 1) || !(policy.perMinute > 0)) throw new RangeError('a bucket needs burst >= 1 and perMinute > 0');
    this.perMs = policy.perMinute / 60_000;
  }

  /** Would `key` be admitted now? Spends nothing. */
  check(key: string, now: number, cost = 1): Admission {
    const b = this.buckets.get(key);
    if (!b) return OK;
    return this.admission(this.level(b, now), cost);
  }

  /** Spends `cost` from `key`'s bucket if it holds that much; otherwise says how long until it will. */
  take(key: string, now: number, cost = 1): Admission {
    const b = this.buckets.get(key);
    const tokens = b ? this.level(b, now) : this.policy.burst;
    const verdict = this.admission(tokens, cost);
    if (!verdict.ok) return verdict;
    // Re-insert so the map's order is least recently used first.
    if (b) this.buckets.delete(key);
    this.buckets.set(key, { tokens: tokens - cost, at: now });
    if (this.buckets.size > this.maxKeys) this.evictOldest();
    return verdict;
  }

  /** Spends `cost` whether or not the bucket holds it (it never goes below empty). */
  charge(key: string, now: number, cost = 1): void {
    const b = this.buckets.get(key);
    const tokens = b ? this.level(b, now) : this.policy.burst;
    if (b) this.buckets.delete(key);
    this.buckets.set(key, { tokens: Math.max(0, tokens - cost), at: now });
    if (this.buckets.size > this.maxKeys) this.evictOldest();
  }

  /** Keys currently held (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * The bucket's level at `now`. A clock that stepped backwards re-anchors
   * the bucket without refilling it, so a step back never freezes a bucket
   * until the clock catches up, nor fills it.
   */
  private level(b: Bucket, now: number): number {
    const elapsed = now - b.at;
    if (elapsed <= 0) {
      b.at = now;
      return b.tokens;
    }
    return Math.min(this.policy.burst, b.tokens + elapsed * this.perMs);
  }

  private admission(tokens: number, cost: number): Admission {
    if (tokens >= cost) return OK;
    return { ok: false, retryAfterMs: Math.ceil((cost - tokens) / this.perMs) };
  }

  private evictOldest(): void {
    // Full buckets first would be lossless, but finding one is O(n); the oldest is O(1).
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}
