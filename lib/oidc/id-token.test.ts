import { describe, expect, it } from 'vitest';
import { idTokenClaims, type IdTokenInput } from './id-token';

const T = Date.UTC(2031, 0, 1); // on a whole second
const S = 1000;
const user = { id: 'u-1', username: 'alice', groups: ['ops'], name: null, email: null };

function input(o: { now: number; auth_time: number; expires_at: number; lifetime?: number }): IdTokenInput {
  return {
    issuer: 'https://kubegate.example.com',
    audience: 'kubernetes',
    user,
    session: { auth_time: o.auth_time, expires_at: o.expires_at, amr: ['pwd'] },
    now: o.now,
    lifetimeSeconds: o.lifetime ?? 60,
  };
}

describe('idTokenClaims: times, with an injected clock', () => {
  const sec = (ms: number) => Math.floor(ms / 1000);
  it.each([
    ['an ordinary refresh', { now: T + 500, auth_time: T - 3600 * S, expires_at: T + 8 * 3600 * S }, { iat: sec(T), exp: sec(T) + 60, auth_time: sec(T) - 3600 }],
    ['a session ending before the lifetime: exp is the session end', { now: T, auth_time: T - S, expires_at: T + 25 * S }, { iat: sec(T), exp: sec(T) + 25, auth_time: sec(T) - 1 }],
    ['a session ending 1 s after iat: one second left', { now: T + 999, auth_time: T - S, expires_at: T + 1000 + 999 }, { iat: sec(T), exp: sec(T) + 1, auth_time: sec(T) - 1 }],
    // Regression: a clock that stepped back since sign-in gave auth_time > iat.
    ['signed in "in the future" (clock stepped back 5 min): auth_time is iat', { now: T, auth_time: T + 300 * S, expires_at: T + 3600 * S }, { iat: sec(T), exp: sec(T) + 60, auth_time: sec(T) }],
    ['signed in within the same second, later in it', { now: T + 100, auth_time: T + 900, expires_at: T + 3600 * S }, { iat: sec(T), exp: sec(T) + 60, auth_time: sec(T) }],
  ])('%s', (_, i, expected) => {
    const claims = idTokenClaims(input(i))!;
    expect(claims).toMatchObject(expected);
    expect(claims.auth_time).toBeLessThanOrEqual(claims.iat);
    expect(claims.exp).toBeGreaterThan(claims.iat);
  });

  // Regression: a session ending within the current second gave exp == iat
  // (expires_in 0): an id_token expired when it was signed.
  it.each([
    ['the session ends later in this same second', { now: T + 100, auth_time: T - S, expires_at: T + 900 }],
    ['the session ends exactly at the next whole second minus one ms', { now: T, auth_time: T - S, expires_at: T + 999 }],
    ['the session already ended', { now: T, auth_time: T - 3600 * S, expires_at: T - S }],
  ])('issues nothing already expired: %s', (_, i) => {
    expect(idTokenClaims(input(i))).toBeUndefined();
  });
});
