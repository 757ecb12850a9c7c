import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './rate-limit';

const T = Date.UTC(2031, 0, 1);
const S = 1000;

describe('TokenBuckets', () => {
  it('admits a burst, then refuses with the time until the next token', () => {
    const b = new TokenBuckets({ burst: 3, perMinute: 6 }); // one token per 10 s
    expect([b.take('k', T), b.take('k', T), b.take('k', T)]).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(b.take('k', T)).toEqual({ ok: false, retryAfterMs: 10 * S });
    expect(b.take('k', T + 4 * S)).toEqual({ ok: false, retryAfterMs: 6 * S });
    expect(b.take('k', T + 10 * S)).toEqual({ ok: true });
    expect(b.take('k', T + 10 * S)).toMatchObject({ ok: false });
  });

  it('refills at the sustained rate, never above the burst', () => {
    const b = new TokenBuckets({ burst: 2, perMinute: 60 });
    b.take('k', T);
    b.take('k', T);
    // An hour later: two, not 3600.
    expect([b.take('k', T + 3600 * S), b.take('k', T + 3600 * S), b.take('k', T + 3600 * S)].map((a) => a.ok)).toEqual([true, true, false]);
  });

  it('keeps keys apart', () => {
    const b = new TokenBuckets({ burst: 1, perMinute: 1 });
    expect(b.take('a', T).ok).toBe(true);
    expect(b.take('a', T).ok).toBe(false);
    expect(b.take('b', T).ok).toBe(true);
  });

  it('check spends nothing; charge spends even from an empty bucket but never below empty', () => {
    const b = new TokenBuckets({ burst: 2, perMinute: 60 });
    expect(b.check('k', T)).toEqual({ ok: true });
    expect(b.size).toBe(0);
    b.charge('k', T);
    b.charge('k', T);
    b.charge('k', T); // already empty: stays empty
    expect(b.check('k', T)).toEqual({ ok: false, retryAfterMs: S });
    expect(b.check('k', T + S).ok).toBe(true);
  });

  it('a clock stepped back neither refills nor freezes a bucket', () => {
    const b = new TokenBuckets({ burst: 1, perMinute: 60 });
    b.take('k', T);
    // An hour back: still empty (no refill from a negative interval)...
    expect(b.take('k', T - 3600 * S).ok).toBe(false);
    // ...and it refills from the new "now" on, not only once the clock is back at T.
    expect(b.take('k', T - 3600 * S + S).ok).toBe(true);
  });

  it('holds at most maxKeys keys, dropping the least recently used', () => {
    const b = new TokenBuckets({ burst: 1, perMinute: 1 }, 3);
    for (const k of ['a', 'b', 'c']) b.take(k, T);
    b.take('a', T + 1); // refused, but 'a' is still the oldest entry
    b.take('d', T + 2);
    expect(b.size).toBe(3);
    // 'a' was evicted: it starts over with a full bucket; 'c' was kept and is still empty.
    expect(b.take('a', T + 3).ok).toBe(true);
    expect(b.take('c', T + 3).ok).toBe(false);
  });

  it('refuses a policy that could never admit anything', () => {
    expect(() => new TokenBuckets({ burst: 0, perMinute: 1 })).toThrow(RangeError);
    expect(() => new TokenBuckets({ burst: 1, perMinute: 0 })).toThrow(RangeError);
  });
});
