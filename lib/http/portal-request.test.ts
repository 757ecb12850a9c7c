import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { stampPortalRequest } from './portal-request';

function fake(headers: Record<string, string>, remoteAddress = '10.1.2.3') {
  const req = { headers: { ...headers }, socket: { remoteAddress } } as unknown as IncomingMessage;
  const set: Record<string, string> = {};
  const res = { setHeader: (k: string, v: string) => (set[k] = v) } as unknown as ServerResponse;
  return { req, res, set };
}

const opts = {
  https: true,
  dev: false,
  trustProxy: false,
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

  it('takes the client address from X-Forwarded-For only behind a trusted proxy', () => {
    const { req } = fake({ 'x-forwarded-for': '7.7.7.7, 10.0.0.1' });
    stampPortalRequest(req, fake({}).res, { ...opts, trustProxy: true });
    expect(req.headers['x-kubegate-client-ip']).toBe('7.7.7.7');
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
