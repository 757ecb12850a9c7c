import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { csrfToken, isSameOrigin, verifyCsrfToken } from './csrf';

const headers = (h: Record<string, string>) => new Headers(h);

describe('CSRF tokens', () => {
  it('are bound to the secret and the login session', () => {
    const t = csrfToken('secret', 'session-a');
    expect(verifyCsrfToken('secret', 'session-a', t)).toBe(true);
    expect(verifyCsrfToken('secret', 'session-b', t)).toBe(false);
    expect(verifyCsrfToken('other', 'session-a', t)).toBe(false);
    expect(verifyCsrfToken('secret', 'session-a', t.slice(0, -1))).toBe(false);
    expect(verifyCsrfToken('secret', 'session-a', undefined)).toBe(false);
    expect(verifyCsrfToken('secret', 'session-a', 42)).toBe(false);
  });

  it('are the HMAC of the session id under the secret, also when asked again (they are remembered per secret and session)', () => {
    const hmac = (secret: string, sid: string) => createHmac('sha256', secret).update(`csrf:${sid}`).digest('base64url');
    for (let round = 0; round < 2; round++) {
      expect(csrfToken('secret', 'session-a')).toBe(hmac('secret', 'session-a'));
      expect(csrfToken('other', 'session-a')).toBe(hmac('other', 'session-a'));
      expect(csrfToken('secret', 'session-b')).toBe(hmac('secret', 'session-b'));
    }
  });
});

describe('isSameOrigin', () => {
  const portal = 'https://kubegate.example.com';
  it.each([
    [{ origin: portal }, true],
    [{ origin: 'https://evil.example' }, false],
    [{ origin: 'null' }, false],
    [{ origin: 'https://kubegate.example.com:8443' }, false],
    [{ referer: `${portal}/clusters/prod` }, true],
    [{ referer: 'https://evil.example/x' }, false],
    [{ referer: 'not a url' }, false],
    [{}, false],
  ])('%o → %s', (h, expected) => {
    expect(isSameOrigin(headers(h), portal)).toBe(expected);
  });
});
