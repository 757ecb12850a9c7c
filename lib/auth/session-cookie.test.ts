import { encode } from 'next-auth/jwt';
import { describe, expect, it, vi } from 'vitest';
import { SESSION_COOKIE, SessionCookieReader, sessionToken } from './session-cookie';

const SECRET = 'a-test-secret-of-enough-length-0123456789';

/** A session cookie value exactly as Auth.js writes it (salt = the cookie's name). */
const cookieFor = (token: Record<string, unknown>, maxAge = 3600, secret = SECRET, salt = SESSION_COOKIE) => encode({ token, secret, salt, maxAge });

const jar = (cookies: Record<string, string>) => ({
  get: (name: string) => (name in cookies ? { value: cookies[name]! } : undefined),
  getAll: () => Object.entries(cookies).map(([name, value]) => ({ name, value })),
});

describe('SessionCookieReader', () => {
  it('gives the sid of a cookie Auth.js wrote, and the same again from memory', async () => {
    const reader = new SessionCookieReader(SECRET);
    const token = await cookieFor({ sid: 'session-1' });
    expect(await reader.sessionId(token)).toBe('session-1');
    expect(await reader.sessionId(token)).toBe('session-1');
    expect(reader.size).toBe(1);
  });

  it('refuses a cookie sealed with another secret or under another cookie name, and reports it', async () => {
    const onInvalid = vi.fn();
    const reader = new SessionCookieReader(SECRET, { onInvalid });
    expect(await reader.sessionId(await cookieFor({ sid: 's' }, 3600, 'another-secret-of-enough-length-987654'))).toBeUndefined();
    expect(await reader.sessionId(await cookieFor({ sid: 's' }, 3600, SECRET, 'authjs.session-token'))).toBeUndefined();
    expect(await reader.sessionId('not-a-jwe')).toBeUndefined();
    expect(onInvalid).toHaveBeenCalledTimes(3);
    expect(reader.size).toBe(0);
  });

  it('gives no session for an absent cookie or a token without a string sid (what our jwt callback turns into null)', async () => {
    const reader = new SessionCookieReader(SECRET);
    expect(await reader.sessionId(undefined)).toBeUndefined();
    expect(await reader.sessionId('')).toBeUndefined();
    expect(await reader.sessionId(await cookieFor({ sub: 'someone' }))).toBeUndefined();
    expect(await reader.sessionId(await cookieFor({ sid: 42 }))).toBeUndefined();
  });

  it('refuses an expired cookie at first sight and a remembered one once it expires, with jose’s 15 s tolerance', async () => {
    let now = Date.now();
    const reader = new SessionCookieReader(SECRET, { now: () => now });
    const token = await cookieFor({ sid: 'session-2' }, 60);
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect(await reader.sessionId(token)).toBe('session-2');
    now = exp * 1000 + 14_999;
    expect(await reader.sessionId(token)).toBe('session-2');
    now = exp * 1000 + 15_000;
    expect(await reader.sessionId(token)).toBeUndefined();
    // Forgotten, and decoding it again (real clock: still valid) is jose's call, not the memo's.
    expect(reader.size).toBe(0);

    const expired = await cookieFor({ sid: 'old' }, -60);
    expect(await new SessionCookieReader(SECRET).sessionId(expired)).toBeUndefined();
  });

  it('remembers a bounded number of cookies, forgetting the oldest', async () => {
    const reader = new SessionCookieReader(SECRET, { maxEntries: 2 });
    const tokens = await Promise.all(['a', 'b', 'c'].map((sid) => cookieFor({ sid })));
    for (const t of tokens) await reader.sessionId(t);
    expect(reader.size).toBe(2);
    expect(await reader.sessionId(tokens[0])).toBe('a');
  });
});

describe('sessionToken', () => {
  it('reads the whole cookie, or joins Auth.js chunks in order', () => {
    expect(sessionToken(jar({ [SESSION_COOKIE]: 'whole', other: 'x' }))).toBe('whole');
    expect(sessionToken(jar({ [`${SESSION_COOKIE}.1`]: 'B', [`${SESSION_COOKIE}.0`]: 'A', [`${SESSION_COOKIE}.x`]: 'no' }))).toBe('AB');
    expect(sessionToken(jar({ 'authjs.session-token': 'unprefixed' }))).toBeUndefined();
    expect(sessionToken(jar({}))).toBeUndefined();
  });
});
