import { describe, expect, it } from 'vitest';
import { canonicalForwardedHeaders, exportAuthEnvironment } from './auth-env';
import { canonicalRequest } from '../auth/canonical-request';

describe('auth URL pinning', () => {
  it('clears AUTH_URL/NEXTAUTH_URL, which would make next-auth rewrite 127.0.0.1 to localhost', () => {
    const env: NodeJS.ProcessEnv = { NODE_ENV: 'test', AUTH_URL: 'http://127.0.0.1:3000/api/auth', NEXTAUTH_URL: 'http://x' };
    exportAuthEnvironment(env);
    expect(env.AUTH_URL).toBeUndefined();
    expect(env.NEXTAUTH_URL).toBeUndefined();
    expect(env.AUTH_TRUST_HOST).toBe('true');
  });

  it('derives the forwarded host and protocol from the issuer URL', () => {
    expect(canonicalForwardedHeaders('https://kubegate.example.com')).toEqual({
      'x-forwarded-host': 'kubegate.example.com',
      'x-forwarded-proto': 'https',
    });
    expect(canonicalForwardedHeaders('http://127.0.0.1:3700')).toEqual({ 'x-forwarded-host': '127.0.0.1:3700', 'x-forwarded-proto': 'http' });
  });

  it.each([
    ['http://localhost:3700/api/auth/callback/corp?code=x&state=y', 'http://127.0.0.1:3700'],
    ['http://10.0.0.5:3000/api/auth/callback/corp?code=x&state=y', 'http://127.0.0.1:3700'],
    ['http://127.0.0.1:3700/api/auth/callback/corp?code=x&state=y', 'https://kubegate.example.com'],
  ])('readdresses %s at the issuer %s, keeping path, query, method and body', async (incoming, issuer) => {
    const req = new Request(incoming, { method: 'POST', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const out = canonicalRequest(req, issuer);
    const u = new URL(out.url);
    expect(u.origin).toBe(new URL(issuer).origin);
    expect(u.pathname + u.search).toBe('/api/auth/callback/corp?code=x&state=y');
    expect(out.method).toBe('POST');
    expect(out.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(await out.text()).toBe('a=1');
  });
});
