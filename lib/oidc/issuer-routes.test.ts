import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/types';
import { bodyOf, openTestEnv, type TestEnv } from '../../test/support/fixtures';
import { createIssuerRoutes } from './issuer-routes';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const get = { method: 'GET', headers: {}, body: '' };

describe('issuer routes', () => {
  it('serves discovery with every URL derived from the issuer', async () => {
    const route = createIssuerRoutes(env.rt.issuerDeps);
    const res = await route('/.well-known/openid-configuration')!(get);
    expect(res.status).toBe(200);
    expect(bodyOf(res)).toMatchObject({
      issuer: 'https://kubegate.example.com',
      token_endpoint: 'https://kubegate.example.com/oidc/token',
      jwks_uri: 'https://kubegate.example.com/oidc/jwks',
      id_token_signing_alg_values_supported: ['RS256'],
      grant_types_supported: ['refresh_token'],
    });
  });

  it('serves the JWKS with short caching and no private key material', async () => {
    const route = createIssuerRoutes(env.rt.issuerDeps);
    const res = await route('/oidc/jwks')!(get);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/jwk-set+json');
    expect(res.headers['cache-control']).toBe('public, max-age=60');
    const { keys } = bodyOf<{ keys: Array<Record<string, unknown>> }>(res);
    expect(keys.map((k) => k.kid)).toEqual([env.rt.keys.current().kid]);
    for (const k of keys) for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(p);
  });

  it.each(['/.well-known/openid-configuration', '/oidc/jwks', '/oidc/authorize', '/healthz'])('answers 405 to a POST on %s', async (path) => {
    const res = await createIssuerRoutes(env.rt.issuerDeps)(path)!({ method: 'POST', headers: {}, body: '' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('sends /oidc/authorize to the portal and leaves other paths to Next', async () => {
    const route = createIssuerRoutes(env.rt.issuerDeps);
    expect(await route('/oidc/authorize')!(get)).toMatchObject({ status: 302, headers: { location: '/' } });
    expect(route('/')).toBeUndefined();
    expect(route('/oidc/token/')).toBeUndefined();
  });

  it('reports health from the store', async () => {
    expect((await createIssuerRoutes(env.rt.issuerDeps)('/healthz')!(get)).status).toBe(200);
    const down = { ...env.store, ping: () => Promise.reject(new Error('ECONNREFUSED 10.0.0.5:5432')) } as Store;
    const res = await createIssuerRoutes({ ...env.rt.issuerDeps, store: down })('/healthz')!(get);
    expect(res.status).toBe(503);
    expect(res.body).not.toContain('10.0.0.5');
  });
});
