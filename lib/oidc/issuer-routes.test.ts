import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../store/errors';
import type { Store } from '../store/types';
import type { KeyManager } from './keys';
import { bodyOf, ENDPOINT_CONFIG_YAML, openTestEnv, type TestEnv } from '../../test/support/fixtures';
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
      grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
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

  it('announces signing.jwks_max_age as the JWKS max-age, so caches follow the setting publish_ahead was checked against', async () => {
    const short = await openTestEnv({ yaml: ENDPOINT_CONFIG_YAML.replace('storage:\n', 'signing:\n  jwks_max_age: 5s\n  publish_ahead: 20s\nstorage:\n') });
    try {
      expect(short.rt.config.signing).toMatchObject({ jwks_max_age: 5, publish_ahead: 20 });
      const res = await createIssuerRoutes(short.rt.issuerDeps)('/oidc/jwks')!(get);
      expect(res.headers['cache-control']).toBe('public, max-age=5');
    } finally {
      await short.close();
    }
  });

  // The old regression (an advertised authorization_endpoint that only redirected to the portal) still
  // holds in its other half: whatever is advertised is served, here by the issuer layer itself.
  it('advertises the authorization and device endpoints it serves, PKCE S256 only, and iss in responses', async () => {
    const route = createIssuerRoutes(env.rt.issuerDeps);
    const doc = bodyOf<Record<string, unknown>>(await route('/.well-known/openid-configuration')!(get));
    expect(doc).toMatchObject({
      authorization_endpoint: 'https://kubegate.example.com/oidc/authorize',
      device_authorization_endpoint: 'https://kubegate.example.com/oidc/device_authorization',
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(route('/oidc/authorize')).toBeDefined();
    expect(route('/oidc/device_authorization')).toBeDefined();
  });

  it.each(['/.well-known/openid-configuration', '/oidc/jwks', '/healthz', '/readyz'])('answers 405 to a POST on %s', async (path) => {
    const res = await createIssuerRoutes(env.rt.issuerDeps)(path)!({ method: 'POST', headers: {}, body: '' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(bodyOf(res)).toEqual({ error: 'invalid_request', error_description: 'this endpoint accepts only GET and HEAD' });
  });

  it('leaves other paths to Next', () => {
    const route = createIssuerRoutes(env.rt.issuerDeps);
    expect(route('/')).toBeUndefined();
    expect(route('/oidc/token/')).toBeUndefined();
  });

  it('answers /healthz without touching the database (liveness)', async () => {
    const untouchable = new Proxy(env.store, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && prop !== 'then') return () => Promise.reject(new StoreUnavailableError('busy', 'database is locked'));
        return Reflect.get(target, prop, receiver) as unknown;
      },
    }) as Store;
    const res = await createIssuerRoutes({ ...env.rt.issuerDeps, store: untouchable })('/healthz')!(get);
    expect(res.status).toBe(200);
    expect(bodyOf(res)).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 while the database takes a write and a key is loaded', async () => {
    const res = await createIssuerRoutes(env.rt.issuerDeps)('/readyz')!(get);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(bodyOf(res)).toEqual({ status: 'ready' });
  });

  it('answers /readyz 503 with the reason while the database cannot be written', async () => {
    const readonly = { ...env.store, probeWrite: () => Promise.reject(new StoreUnavailableError('readonly', 'attempt to write a readonly database (/var/lib/kubegate)')) } as Store;
    const res = await createIssuerRoutes({ ...env.rt.issuerDeps, store: readonly })('/readyz')!(get);
    expect(res.status).toBe(503);
    expect(bodyOf(res)).toEqual({ status: 'unavailable', reason: 'database_not_writable', detail: 'readonly' });
    expect(res.body).not.toContain('/var/lib');
  });

  it('answers /readyz 503 when the write probe hangs past its bound', async () => {
    const hung = { ...env.store, probeWrite: () => new Promise<void>(() => {}) } as Store;
    const res = await createIssuerRoutes({ ...env.rt.issuerDeps, store: hung, readinessTimeoutMs: 20 })('/readyz')!(get);
    expect(res.status).toBe(503);
    expect(bodyOf(res)).toMatchObject({ reason: 'database_timeout' });
  });

  it('answers /readyz 503 at once when the process is shutting down, /healthz still 200', async () => {
    let stopping = false;
    const routes = createIssuerRoutes({ ...env.rt.issuerDeps, shuttingDown: () => stopping });
    expect((await routes('/readyz')!(get)).status).toBe(200);
    stopping = true;
    const res = await routes('/readyz')!(get);
    expect(res.status).toBe(503);
    expect(bodyOf(res)).toEqual({ status: 'unavailable', reason: 'shutting_down' });
    expect((await routes('/healthz')!(get)).status).toBe(200);
  });

  it('answers /readyz 503 while no signing key is loaded', async () => {
    const keys = { ...env.rt.keys, current: () => undefined, jwksJson: () => '{"keys":[]}' } as unknown as KeyManager;
    const res = await createIssuerRoutes({ ...env.rt.issuerDeps, keys })('/readyz')!(get);
    expect(res.status).toBe(503);
    expect(bodyOf(res)).toEqual({ status: 'unavailable', reason: 'signing_key_not_loaded' });
  });
});
