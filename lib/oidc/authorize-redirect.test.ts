import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isLoopbackRedirect, OOB_REDIRECT_URI, redirectUriAllowed, verifierMatches, withResponseParams } from './authorize-redirect';

const native = { native: true, redirectUris: [] };
const web = { native: false, redirectUris: ['https://dash.example.com/callback'] };

describe('redirect URI rule (RFC 8252 §7.3 loopback for native clients, exact match otherwise)', () => {
  it.each([
    // kubelogin: http://localhost:<port>, no path; it tries 8000 then 18000.
    'http://localhost:8000',
    'http://localhost:18000',
    'http://127.0.0.1:8000',
    'http://[::1]:8000',
    'http://localhost:51234/callback',
    'http://127.0.0.1/',
    'http://127.0.0.1:8000/cb?x=1',
    OOB_REDIRECT_URI,
  ])('a native client may use %s', (uri) => {
    expect(redirectUriAllowed(native, uri)).toBe(true);
  });

  it.each([
    ['https on loopback', 'https://localhost:8000'],
    ['another host', 'http://example.com:8000'],
    ['a look-alike host', 'http://localhost.evil.com:8000'],
    ['userinfo before the host', 'http://localhost@evil.com'],
    ['userinfo after a port', 'http://localhost:8000@evil.com'],
    ['an encoded dot in the host', 'http://127.0.0.1%2eevil.com'],
    ['encoded dot segments', 'http://localhost:8000/%2e%2e/admin'],
    ['dot segments', 'http://localhost:8000/../admin'],
    ['a fragment', 'http://localhost:8000/#x'],
    ['a backslash', 'http://localhost:8000\\@evil.com'],
    ['port 0', 'http://localhost:0'],
    ['a port past 65535', 'http://localhost:65536'],
    ['a space', 'http://localhost:8000/ x'],
    ['upper-case scheme', 'HTTP://localhost:8000'],
    ['no scheme', '//localhost:8000'],
    ['javascript', 'javascript:alert(1)'],
  ])('a native client may not use %s', (_, uri) => {
    expect(redirectUriAllowed(native, uri)).toBe(false);
    expect(isLoopbackRedirect(uri)).toBe(false);
  });

  it.each([
    ['a trailing slash', 'https://dash.example.com/callback/'],
    ['another host', 'https://evil.example.com/callback'],
    ['good@evil', 'https://dash.example.com@evil.example.com/callback'],
    ['encoded dots', 'https://dash.example.com/%2e%2e/callback'],
    ['another port', 'https://dash.example.com:8443/callback'],
    ['a different case', 'https://DASH.example.com/callback'],
    ['an added query', 'https://dash.example.com/callback?x=1'],
    ['a loopback URI', 'http://localhost:8000'],
    ['the out-of-band URN', OOB_REDIRECT_URI],
  ])('a non-native client is held to the exact URI: %s is refused', (_, uri) => {
    expect(redirectUriAllowed(web, uri)).toBe(false);
  });

  it('a non-native client gets its registered URI', () => {
    expect(redirectUriAllowed(web, 'https://dash.example.com/callback')).toBe(true);
  });
});

describe('PKCE S256 (RFC 7636 §4.6)', () => {
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  it('matches the RFC example', () => {
    expect(challenge).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    expect(verifierMatches(verifier, challenge)).toBe(true);
  });
  it.each([
    ['another verifier', verifier.replace(/.$/, 'Y')],
    ['the challenge itself (plain)', challenge],
    ['a short verifier', 'abc'],
    ['a verifier with a space', verifier.slice(0, 20) + ' ' + verifier.slice(21)],
  ])('refuses %s', (_, v) => {
    expect(verifierMatches(v, challenge)).toBe(false);
  });
});

describe('response parameters', () => {
  it('are added to the query, keeping the one the URI has', () => {
    expect(withResponseParams('http://localhost:8000', { code: 'c', state: 's&x', iss: 'https://i' })).toBe('http://localhost:8000/?code=c&state=s%26x&iss=https%3A%2F%2Fi');
    expect(withResponseParams('https://a.example/cb?keep=1', { code: 'c', state: undefined })).toBe('https://a.example/cb?keep=1&code=c');
  });
});
