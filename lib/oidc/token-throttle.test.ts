import { describe, expect, it } from 'vitest';
import { addressKey, retryAfterSeconds, TokenThrottle } from './token-throttle';

const T = Date.UTC(2031, 0, 1);
const S = 1000;
/** The defaults of server.token_rate_limit. */
const DEFAULTS = { perCredential: { burst: 30, perMinute: 30 }, perAddressFailures: { burst: 120, perMinute: 120 } };

describe('addressKey', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2:bbbb::7', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    [undefined, 'unknown'],
    ['not an address', 'other:not an address'],
  ])('%s → %s', (ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });
});

describe('TokenThrottle', () => {
  it('50 people behind one NAT at kubectl cadence, with racing tools, are never limited', () => {
    const t = new TokenThrottle(DEFAULTS);
    const nat = '198.51.100.1';
    let refused = 0;
    // Two hours. Each person's kubectl refreshes when its 60 s id_token has
    // expired (so every 60-65 s), all 50 starting within the same minute;
    // person 0 runs 12 tools at once (k9s, a watch loop, scripts), each
    // presenting the same refresh token at the same instant.
    for (let person = 0; person < 50; person++) {
      const family = `family-${person}`;
      for (let at = T + person * 1100; at < T + 2 * 3600 * S; at += 60 * S + (person % 6) * S) {
        const tools = person === 0 ? 12 : 1;
        for (let i = 0; i < tools; i++) {
          if (!t.admitAddress(nat, at).ok) refused++;
          if (!t.admitFamily(family, at).ok) refused++;
        }
      }
    }
    expect(refused).toBe(0);
  });

  it('cuts off a loop hammering one credential after its burst, then lets it through at the sustained rate', () => {
    const t = new TokenThrottle(DEFAULTS);
    const admitted = Array.from({ length: 2824 }, () => t.admitFamily('stolen', T).ok).filter(Boolean).length;
    expect(admitted).toBe(30);
    const refusal = t.admitFamily('stolen', T);
    expect(refusal).toEqual({ ok: false, retryAfterMs: 2 * S });
    expect(retryAfterSeconds(refusal as { ok: false; retryAfterMs: number })).toBe(2);
    expect(t.admitFamily('stolen', T + 2 * S).ok).toBe(true);
    // Another credential is not affected.
    expect(t.admitFamily('someone-else', T).ok).toBe(true);
  });

  it('refuses an address only after its failures, and a success never spends from it', () => {
    const t = new TokenThrottle(DEFAULTS);
    for (let i = 0; i < 1000; i++) expect(t.admitAddress('192.0.2.1', T).ok).toBe(true); // no failures: no limit
    for (let i = 0; i < 120; i++) t.addressFailed('192.0.2.1', T);
    expect(t.admitAddress('192.0.2.1', T)).toEqual({ ok: false, retryAfterMs: 500 });
    expect(t.admitAddress('192.0.2.2', T).ok).toBe(true);
    expect(t.admitAddress('192.0.2.1', T + 500).ok).toBe(true);
  });

  it('limits an IPv6 client by its /64, not by each of its addresses', () => {
    const t = new TokenThrottle({ ...DEFAULTS, perAddressFailures: { burst: 2, perMinute: 1 } });
    t.addressFailed('2001:db8:1:2::1', T);
    t.addressFailed('2001:db8:1:2::2', T);
    expect(t.admitAddress('2001:db8:1:2::ffff', T).ok).toBe(false);
    expect(t.admitAddress('2001:db8:1:3::1', T).ok).toBe(true);
  });
});
