/**
 * The issuer layer's access log, on a real loopback socket: one line per
 * request with what an operator needs, never the query, the body, a token,
 * a code, a client secret or the Authorization header.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OAuthError, renderOAuthError } from '../oidc/errors';
import { json, NO_STORE } from '../oidc/http';
import { createLogger, silentLogger } from '../util/log';
import { accessFields, grantTypeOf, oauthErrorOf } from './access-log';
import { createProxyTrust } from './client-address';
import { createIssuerListener } from './node-adapter';

const REFRESH = 'kgr_' + 'R'.repeat(43);
const SUCCESSOR = 'kgr_' + 'S'.repeat(43);
const CODE = 'kgc_' + 'C'.repeat(43);
const SECRET = 'client-secret-value-0123456789';
const STATE = 'state-value-0123456789';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

async function issuerServer(opts: { accessLog: boolean; trustProxy?: boolean }) {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  const listener = createIssuerListener(
    (path) => {
      if (path === '/oidc/token') {
        return (req) =>
          req.body.includes('bad')
            ? renderOAuthError(new OAuthError('invalid_grant', 'refresh token is not valid'), { log: silentLogger, where: 'test' })
            : json(200, { refresh_token: SUCCESSOR, id_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl' }, NO_STORE);
      }
      if (path === '/oidc/authorize') return () => ({ status: 302, headers: { location: `http://127.0.0.1/cb?code=${CODE}&state=${STATE}` }, body: '' });
      if (path === '/.well-known/openid-configuration') return () => json(200, { issuer: 'x' });
      return undefined;
    },
    { log, proxy: createProxyTrust(opts.trustProxy ?? false), bodyTimeoutMs: 1000, accessLog: opts.accessLog },
  );
  const server = http.createServer((req, res) => {
    if (!listener(req, res)) {
      res.writeHead(404).end();
    }
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe('access log of the issuer layer', () => {
  it('writes one line per request: method, path without query, status, duration, bytes, client, agent, grant type, OAuth error', async () => {
    const s = await issuerServer({ accessLog: true, trustProxy: true });
    const basic = 'Basic ' + Buffer.from(`stage-cluster:${SECRET}`).toString('base64');
    const ok = await fetch(`${s.base}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic, 'user-agent': 'kubectl/v1.34.0', 'x-forwarded-for': '203.0.113.7' },
      body: form({ grant_type: 'refresh_token', refresh_token: REFRESH, client_secret: SECRET }),
    });
    const okBody = await ok.text();
    const bad = await fetch(`${s.base}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ grant_type: 'refresh_token', refresh_token: 'bad' + REFRESH }),
    });
    await bad.text();
    const authz = await fetch(`${s.base}/oidc/authorize?client_id=kubernetes&state=${STATE}&code_challenge=${'P'.repeat(43)}`, { redirect: 'manual' });
    await authz.text();
    const disc = await fetch(`${s.base}/.well-known/openid-configuration`, { method: 'HEAD' });
    await disc.text();
    await (await fetch(`${s.base}/not-issuer`)).text();

    const lines = s.parsed();
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'access',
      access: true,
      method: 'POST',
      path: '/oidc/token',
      status: 200,
      bytes: Buffer.byteLength(okBody),
      client_ip: '203.0.113.7',
      user_agent: 'kubectl/v1.34.0',
      grant_type: 'refresh_token',
    });
    expect(lines[0]!.request_id).toBe(ok.headers.get('x-request-id'));
    expect(typeof lines[0]!.duration_ms).toBe('number');
    expect(lines[0]).not.toHaveProperty('oauth_error');
    expect(lines[1]).toMatchObject({ path: '/oidc/token', status: 400, grant_type: 'refresh_token', oauth_error: 'invalid_grant', client_ip: '127.0.0.1' });
    expect(lines[2]).toMatchObject({ method: 'GET', path: '/oidc/authorize', status: 302 });
    expect(lines[3]).toMatchObject({ method: 'HEAD', path: '/.well-known/openid-configuration', status: 200, bytes: 0 });

    const out = s.lines.join('\n');
    for (const secret of [REFRESH, SUCCESSOR, CODE, SECRET, STATE, 'P'.repeat(43), basic, 'eyJhbGciOiJSUzI1NiJ9']) expect(out).not.toContain(secret);
  });

  it('writes nothing when log.access is off', async () => {
    const s = await issuerServer({ accessLog: false });
    await (await fetch(`${s.base}/.well-known/openid-configuration`)).text();
    expect(s.lines).toEqual([]);
  });
});

describe('access-log fields', () => {
  it('grantTypeOf names only known grant types', () => {
    expect(grantTypeOf('grant_type=refresh_token&refresh_token=x')).toBe('refresh_token');
    expect(grantTypeOf('refresh_token=x&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code')).toBe('urn:ietf:params:oauth:grant-type:device_code');
    expect(grantTypeOf(`grant_type=${REFRESH}`)).toBe('other');
    expect(grantTypeOf('grant_type=%E0%A4%A')).toBe('other');
    expect(grantTypeOf('refresh_token=x')).toBeUndefined();
  });

  it('oauthErrorOf reads the error code of error responses only', () => {
    expect(oauthErrorOf(400, '{"error":"invalid_grant","error_description":"x"}')).toBe('invalid_grant');
    expect(oauthErrorOf(200, '{"error":"invalid_grant"}')).toBeUndefined();
    expect(oauthErrorOf(500, 'not json')).toBeUndefined();
  });

  it('cuts a long user agent', () => {
    const f = accessFields(
      { method: 'GET', path: '/oidc/jwks', status: 200, startedAt: 0, bytes: 1, clientIp: '::1', userAgent: 'x'.repeat(1000), requestId: 'r', body: '', responseBody: '' },
      1.234,
    );
    expect((f.user_agent as string).length).toBe(200);
    expect(f.duration_ms).toBe(1.23);
  });
});
