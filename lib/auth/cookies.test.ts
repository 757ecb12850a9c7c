import { describe, expect, it } from 'vitest';
import { hostPrefixedCookies } from './cookies';

describe('hostPrefixedCookies', () => {
  it('names every Auth.js cookie __Host- and gives it what that prefix requires: Secure, Path=/, no Domain', () => {
    const cookies = hostPrefixedCookies();
    expect(Object.keys(cookies).sort()).toEqual(['callbackUrl', 'csrfToken', 'nonce', 'pkceCodeVerifier', 'sessionToken', 'state', 'webauthnChallenge']);
    for (const [key, c] of Object.entries(cookies)) {
      expect(c.name, key).toMatch(/^__Host-authjs\./);
      expect(c.options, key).toMatchObject({ secure: true, path: '/', httpOnly: true, sameSite: 'lax' });
      expect(c.options, key).not.toHaveProperty('domain');
    }
    expect(new Set(Object.values(cookies).map((c) => c.name)).size).toBe(7);
  });
});
