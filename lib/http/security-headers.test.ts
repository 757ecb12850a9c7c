import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, portalSecurityHeaders } from './security-headers';

describe('portal security headers', () => {
  const base = { nonce: 'abc123', https: true, dev: false, formActionOrigins: ['https://login.example.com'] };

  it('a strict CSP: nonce scripts only, no framing, no plugins, forms to ourselves and the upstreams', () => {
    const csp = contentSecurityPolicy(base);
    expect(csp).toContain("script-src 'self' 'nonce-abc123' 'strict-dynamic'");
    expect(csp).toContain("style-src 'self' 'nonce-abc123'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("base-uri 'none'");
    expect(csp).toContain("form-action 'self' https://login.example.com");
    expect(csp).toContain('upgrade-insecure-requests');
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('relaxes only what the development server needs, only in development', () => {
    expect(contentSecurityPolicy({ ...base, dev: true })).toContain("'unsafe-eval'");
  });

  it('sends HSTS over https only', () => {
    expect(portalSecurityHeaders(base)['strict-transport-security']).toMatch(/^max-age=\d+/);
    expect(portalSecurityHeaders({ ...base, https: false })['strict-transport-security']).toBeUndefined();
    expect(contentSecurityPolicy({ ...base, https: false })).not.toContain('upgrade-insecure-requests');
  });

  it('keeps a referrer policy under which same-origin form posts still carry an Origin', () => {
    // Regression: with no-referrer, Chrome sends `Origin: null` and the download CSRF check refused real users.
    expect(portalSecurityHeaders(base)['referrer-policy']).toBe('same-origin');
  });
});
