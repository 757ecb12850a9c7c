/** Discovery, JWKS and health, as kube-apiserver and kubectl fetch them from the built server. */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { raw } from './support/client';
import { openSeeder, type Seeder } from './support/seed';

const { issuer, configPath } = inject('kubegate');
let seeder: Seeder;

beforeAll(async () => {
  seeder = await openSeeder(configPath);
});
afterAll(async () => {
  await seeder?.close();
});

describe('GET /.well-known/openid-configuration', () => {
  it('has every field, with URLs derived from the issuer, and is cacheable', async () => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // A server-made request id: a process prefix and a counter, different on every request.
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-z]{12,24}$/);
    expect((await fetch(`${issuer}/.well-known/openid-configuration`)).headers.get('x-request-id')).not.toBe(id);
    // Only what exists: kube-apiserver reads issuer and jwks_uri, kubectl token_endpoint, kubelogin the
    // authorization and device endpoints and PKCE S256 (test/http/authz*.test.ts run them).
    expect(await res.json()).toEqual({
      issuer,
      authorization_endpoint: `${issuer}/oidc/authorize`,
      token_endpoint: `${issuer}/oidc/token`,
      device_authorization_endpoint: `${issuer}/oidc/device_authorization`,
      jwks_uri: `${issuer}/oidc/jwks`,
      revocation_endpoint: `${issuer}/oidc/revoke`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      code_challenge_methods_supported: ['S256'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      scopes_supported: ['openid', 'profile', 'email', 'groups', 'offline_access'],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'name', 'email', 'preferred_username', 'groups', 'amr', 'acr'],
      acr_values_supported: ['aal1', 'aal2'],
      prompt_values_supported: ['none', 'login'],
      authorization_response_iss_parameter_supported: true,
    });
  });

  it('ignores a query string and keeps a well-formed caller request id', async () => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration?x=1`, { headers: { 'x-request-id': 'abc-123.X_y' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('abc-123.X_y');
    const bad = await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { 'x-request-id': 'no spaces <allowed>' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-z]{12,24}$/);
  });

  it('answers HEAD with the headers and no body', async () => {
    const get = await raw(issuer, { path: '/.well-known/openid-configuration' });
    const head = await raw(issuer, { method: 'HEAD', path: '/.well-known/openid-configuration' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(get.body)));
    expect(head.headers['cache-control']).toBe('public, max-age=300');
  });

  it.each(['POST', 'PUT', 'DELETE'])('answers %s with 405 and Allow', async (method) => {
    const res = await raw(issuer, { method, path: '/.well-known/openid-configuration', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(res.body)).toEqual({ error: 'invalid_request', error_description: 'this endpoint accepts only GET and HEAD' });
  });

  it('every advertised endpoint exists, answered by the issuer layer', async () => {
    const doc = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    for (const url of Object.entries(doc).filter(([k]) => k.endsWith('_uri') || k.endsWith('_endpoint')).map(([, v]) => v as string)) {
      const res = await raw(issuer, { method: /\/(token|device_authorization)$/.test(url) ? 'POST' : 'GET', path: new URL(url).pathname, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      expect(res.headers['x-request-id'], url).toBeDefined(); // answered by the issuer layer
      expect(res.status, url).not.toBe(404);
    }
    // A bare GET names no client: an error page, never a redirect anywhere.
    const authorize = await raw(issuer, { path: '/oidc/authorize' });
    expect(authorize.status).toBe(400);
    expect(authorize.headers.location).toBeUndefined();
  });
});

describe('GET /oidc/jwks', () => {
  it('publishes the signing key with kid, alg and use, and no private parts', async () => {
    const res = await fetch(`${issuer}/oidc/jwks`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    const jwks = (await res.json()) as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
      expect(k.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(k.n).toBeTypeOf('string');
      expect(k.e).toBe('AQAB');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(priv);
    }
    expect(jwks.keys.map((k) => k.kid)).toContain(seeder.keys.current().kid);
  });

  it('verifies a token minted through the library', async () => {
    const minted = await seeder.mint('prod');
    const jwks = createLocalJWKSet((await (await fetch(`${issuer}/oidc/jwks`)).json()) as JSONWebKeySet);
    expect(decodeProtectedHeader(minted.idToken)).toEqual({ alg: 'RS256', kid: seeder.keys.current().kid, typ: 'JWT' });
    const { payload } = await jwtVerify(minted.idToken, jwks, { issuer, audience: 'kubernetes', algorithms: ['RS256'] });
    expect(payload).toMatchObject({ iss: issuer, aud: 'kubernetes', preferred_username: 'alice', amr: ['pwd'] });
    expect(payload.exp! - payload.iat!).toBe(60);
  });

  it('answers HEAD without a body and POST with 405', async () => {
    const head = await raw(issuer, { method: 'HEAD', path: '/oidc/jwks' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(100);
    const post = await raw(issuer, { method: 'POST', path: '/oidc/jwks', body: '' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(JSON.parse(post.body)).toEqual({ error: 'invalid_request', error_description: 'this endpoint accepts only GET and HEAD' });
  });
});

describe.each(['/healthz', '/readyz'])('GET %s', (path) => {
  it('is 200 and not cacheable', async () => {
    const res = await fetch(`${issuer}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: path === '/healthz' ? 'ok' : 'ready' });
  });

  it('answers HEAD and refuses POST', async () => {
    expect((await raw(issuer, { method: 'HEAD', path })).status).toBe(200);
    expect((await raw(issuer, { method: 'POST', path, body: '' })).status).toBe(405);
  });
});

describe('portal paths', () => {
  it('are answered by Next, not by the issuer layer', async () => {
    const res = await fetch(`${issuer}/oidc/jwks/extra`);
    expect(res.headers.get('x-request-id')).toBeNull();
    await res.arrayBuffer();
  });
});
