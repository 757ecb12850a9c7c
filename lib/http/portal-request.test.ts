import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createProxyTrust } from './client-address';
import { canonicalRedirect, isOwnRedirectRender, stampPortalRequest } from './portal-request';

function fake(headers: Record<string, string>, remoteAddress = '10.1.2.3') {
  const req = { headers: { ...headers }, socket: { remoteAddress } } as unknown as IncomingMessage;
  const set: Record<string, string> = {};
  const res = { setHeader: (k: string, v: string) => (set[k] = v) } as unknown as ServerResponse;
  return { req, res, set };
}

const opts = {
  https: true,
  dev: false,
  proxy: createProxyTrust(false),
  formActionOrigins: [],
  forwarded: { 'x-forwarded-host': 'kubegate.example.com', 'x-forwarded-proto': 'https' },
};

describe('stampPortalRequest', () => {
  it('overwrites client-sent trust headers with our own values', () => {
    const { req } = fake({ 'x-kubegate-client-ip': '6.6.6.6', 'x-forwarded-host': 'evil.example', 'x-forwarded-for': '7.7.7.7' });
    stampPortalRequest(req, fake({}).res, opts);
    expect(req.headers['x-kubegate-client-ip']).toBe('10.1.2.3');
    expect(req.headers['x-forwarded-host']).toBe('kubegate.example.com');
    expect(req.headers['x-forwarded-proto']).toBe('https');
  });

  it('takes the client address the trusted proxy saw, never the entry the client wrote', () => {
    const { req } = fake({ 'x-forwarded-for': '7.7.7.7, 203.0.113.9' });
    stampPortalRequest(req, fake({}).res, { ...opts, proxy: createProxyTrust(true) });
    expect(req.headers['x-kubegate-client-ip']).toBe('203.0.113.9');
  });

  it('gives each response its own nonce, on the request (for Next.js) and in the response CSP', () => {
    const a = fake({});
    const b = fake({});
    stampPortalRequest(a.req, a.res, opts);
    stampPortalRequest(b.req, b.res, opts);
    const nonce = (csp: unknown) => /'nonce-([^']+)'/.exec(String(csp))?.[1];
    expect(nonce(a.req.headers['content-security-policy'])).toBe(nonce(a.set['content-security-policy']));
    expect(nonce(a.set['content-security-policy'])).not.toBe(nonce(b.set['content-security-policy']));
    expect(a.set['strict-transport-security']).toBeDefined();
  });
});

describe('isOwnRedirectRender', () => {
  const listen = { host: '127.0.0.1', port: 3000 };
  const r = (headers: Record<string, string>, peer = '127.0.0.1', method = 'GET') => ({ method, headers, socket: { remoteAddress: peer } });

  // Regression: "Remove" on /security (a server action that redirects) showed the home page when the
  // issuer's host differed from the listen address: Next's own render of the target was sent to the
  // canonical host and lost its cookies on the way.
  it('recognises Next rendering a server action redirect from its own listener', () => {
    expect(isOwnRedirectRender(r({ host: '127.0.0.1:3000', rsc: '1' }), listen)).toBe(true);
    expect(isOwnRedirectRender(r({ host: '[::1]:3000', rsc: '1' }, '::1'), { host: '::1', port: 3000 })).toBe(true);
  });

  it.each([
    ['a browser (no RSC header)', r({ host: '127.0.0.1:3000' })],
    ['another machine', r({ host: '127.0.0.1:3000', rsc: '1' }, '192.0.2.7')],
    ['another host name', r({ host: 'localhost:3000', rsc: '1' })],
    ['another port', r({ host: '127.0.0.1:4000', rsc: '1' })],
    ['a POST', r({ host: '127.0.0.1:3000', rsc: '1' }, '127.0.0.1', 'POST')],
  ])('exempts nothing else: %s', (_, req) => {
    expect(isOwnRedirectRender(req, listen)).toBe(false);
  });
});

describe('canonicalRedirect', () => {
  const issuer = new URL('http://localhost:3000');
  const direct = { issuer, proxy: createProxyTrust(false) };
  const r = (method: string, url: string, headers: Record<string, string>, peer = '127.0.0.1') => ({ method, url, headers, socket: { remoteAddress: peer } });

  // Regression: the issuer was http://localhost:3000, the person typed
  // http://127.0.0.1:3000, and the sign-in POST failed with "Invalid Server
  // Actions request" on an unstyled 500.
  it.each([
    ['GET at 127.0.0.1', r('GET', '/', { host: '127.0.0.1:3000' }), { status: 307, location: 'http://localhost:3000/' }],
    ['HEAD keeps path and query', r('HEAD', '/clusters/prod?shell=fish', { host: '127.0.0.1:3000' }), { status: 307, location: 'http://localhost:3000/clusters/prod?shell=fish' }],
    ['a POST is sent to GET the page there (303), not re-posted', r('POST', '/login', { host: '127.0.0.1:3000' }), { status: 303, location: 'http://localhost:3000/login' }],
    ['another port', r('GET', '/', { host: 'localhost:4000' }), { status: 307, location: 'http://localhost:3000/' }],
    ['a protocol-relative-looking path stays a path on the issuer', r('GET', '//evil.example/x', { host: '127.0.0.1:3000' }), { status: 307, location: 'http://localhost:3000//evil.example/x' }],
    ['an absolute-form target is not followed', r('GET', 'http://evil.example/', { host: '127.0.0.1:3000' }), { status: 307, location: 'http://localhost:3000/' }],
    ['no Host at all', r('GET', '/', {}), { status: 307, location: 'http://localhost:3000/' }],
    ['X-Forwarded-Host from a client that is not a trusted proxy does not count', r('GET', '/', { host: '127.0.0.1:3000', 'x-forwarded-host': 'localhost:3000' }), { status: 307, location: 'http://localhost:3000/' }],
  ])('redirects %s', (_, req, expected) => {
    expect(canonicalRedirect(req, direct)).toEqual(expected);
  });

  it.each([
    ['the issuer host', r('GET', '/', { host: 'localhost:3000' })],
    ['the issuer host in capitals', r('POST', '/login', { host: 'LOCALHOST:3000' })],
  ])('leaves %s alone', (_, req) => {
    expect(canonicalRedirect(req, direct)).toBeUndefined();
  });

  describe('behind a trusted TLS proxy (the e2e topology: https://127.0.0.1:8443 in front of http://127.0.0.1:3700)', () => {
    const behind = { issuer: new URL('https://127.0.0.1:8443'), proxy: createProxyTrust(true) };
    it('takes the host from X-Forwarded-Host, which the proxy sets to what the browser used', () => {
      expect(canonicalRedirect(r('GET', '/', { host: '127.0.0.1:8443', 'x-forwarded-host': '127.0.0.1:8443', 'x-forwarded-proto': 'https' }), behind)).toBeUndefined();
      // A proxy that rewrites Host to the backend address.
      expect(canonicalRedirect(r('GET', '/', { host: '127.0.0.1:3700', 'x-forwarded-host': '127.0.0.1:8443' }), behind)).toBeUndefined();
      expect(canonicalRedirect(r('GET', '/x', { host: '127.0.0.1:3700', 'x-forwarded-host': 'localhost:8443' }), behind)).toEqual({ status: 307, location: 'https://127.0.0.1:8443/x' });
    });
    it("takes the nearest proxy's value when a chain appended several", () => {
      expect(canonicalRedirect(r('GET', '/', { host: 'x', 'x-forwarded-host': 'evil.example, 127.0.0.1:8443' }), behind)).toBeUndefined();
    });
    it('without X-Forwarded-Host, falls back to Host', () => {
      expect(canonicalRedirect(r('GET', '/', { host: '127.0.0.1:8443' }), behind)).toBeUndefined();
    });
    it('ignores the default port written out', () => {
      const https = { issuer: new URL('https://kubegate.example.com'), proxy: createProxyTrust(true) };
      expect(canonicalRedirect(r('GET', '/', { host: 'b', 'x-forwarded-host': 'kubegate.example.com:443' }), https)).toBeUndefined();
    });
    it('a request straight to the backend, bypassing a CIDR-trusted proxy, goes to the issuer', () => {
      const cidr = { issuer: new URL('https://kubegate.example.com'), proxy: createProxyTrust(['10.0.0.0/8']) };
      expect(canonicalRedirect(r('GET', '/', { host: '192.0.2.1:3000', 'x-forwarded-host': 'kubegate.example.com' }, '198.51.100.7'), cidr)).toEqual({
        status: 307,
        location: 'https://kubegate.example.com/',
      });
    });
  });
});
