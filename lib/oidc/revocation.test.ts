import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basicAuth, bodyOf, MINUTE, openTestEnv, SECOND, STAGING_SECRET, storeSnapshot, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import type { IssuerRequest, IssuerResponse } from './http';
import { createIssuerRoutes } from './issuer-routes';
import { handleRevocationRequest } from './revocation';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const FORM = 'application/x-www-form-urlencoded';

function revokeRequest(token: string | undefined, o: { clientId?: string; secret?: string; hint?: string; style?: 'basic' | 'form'; ip?: string } = {}): IssuerRequest {
  const form = new URLSearchParams();
  if (token !== undefined) form.set('token', token);
  if (o.hint) form.set('token_type_hint', o.hint);
  const headers: Record<string, string> = { 'content-type': FORM };
  const clientId = o.clientId ?? 'kubernetes';
  if ((o.style ?? 'basic') === 'basic') headers.authorization = basicAuth(clientId, o.secret);
  else {
    form.set('client_id', clientId);
    if (o.secret) form.set('client_secret', o.secret);
  }
  return { method: 'POST', headers, body: form.toString(), clientIp: o.ip ?? '192.0.2.30', requestId: 'req-revoke' };
}

const revoke = (req: IssuerRequest) => handleRevocationRequest(req, env.rt.issuerDeps);

function expectRevoked(res: IssuerResponse): void {
  expect(res.status, res.body).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.body).toBe('');
}

function expectError(res: IssuerResponse, status: number, error: string): string {
  expect(res.status, res.body).toBe(status);
  expect(res.headers['cache-control']).toBe('no-store');
  const body = bodyOf<{ error: string; error_description: string }>(res);
  expect(body.error).toBe(error);
  return body.error_description;
}

describe('revocation endpoint (RFC 7009)', () => {
  it('revokes the whole family of a refresh token: the next refresh is refused and the revocation audited', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(30 * SECOND);
    const next = bodyOf<TokenSuccess>(await env.refresh(minted.refreshToken)).refresh_token;

    expectRevoked(await revoke(revokeRequest(next, { hint: 'refresh_token' })));

    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoked_at: env.clock.now(), revoke_reason: 'revoked_by_client' });
    expectError(await env.refresh(next), 400, 'invalid_grant');
    const [event] = await env.store.listAudit({ limit: 1, familyId: minted.family.id });
    expect(event).toMatchObject({
      kind: 'family.revoked',
      user_id: minted.user.id,
      cluster: 'prod',
      session_id: minted.session.id,
      client_ip: '192.0.2.30',
      request_id: 'req-revoke',
      details: { by_client: 'kubernetes', generation: 1, spent: false, reason: 'revoked_by_client' },
    });
    expect(JSON.stringify(event)).not.toContain(next.slice(4));
  });

  it('a spent refresh token of a live family identifies it and revokes it too', async () => {
    const minted = await env.mint('prod');
    env.clock.advance(30 * SECOND);
    const next = bodyOf<TokenSuccess>(await env.refresh(minted.refreshToken)).refresh_token;
    env.clock.advance(5 * MINUTE); // well past the reuse grace

    expectRevoked(await revoke(revokeRequest(minted.refreshToken)));
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_client' });
    expectError(await env.refresh(next), 400, 'invalid_grant');
  });

  it('refuses a token of another client with unauthorized_client and revokes nothing', async () => {
    const minted = await env.mint('prod');
    const before = await storeSnapshot(env.store);
    const res = await revoke(revokeRequest(minted.refreshToken, { clientId: 'staging', secret: STAGING_SECRET }));
    expectError(res, 400, 'unauthorized_client');
    expect(await storeSnapshot(env.store)).toBe(before);
    expect(bodyOf<TokenSuccess>(await env.refresh(minted.refreshToken)).refresh_token).toMatch(/^kgr_/);
  });

  it('authenticates the client exactly like the token endpoint', async () => {
    const minted = await env.mint('staging');
    // Confidential: no secret or a wrong one is invalid_client (401 with a challenge for Basic).
    expectError(await revoke(revokeRequest(minted.refreshToken, { clientId: 'staging' })), 401, 'invalid_client');
    const wrong = await revoke(revokeRequest(minted.refreshToken, { clientId: 'staging', secret: 'nope' }));
    expectError(wrong, 401, 'invalid_client');
    expect(wrong.headers['www-authenticate']).toMatch(/^Basic /);
    expectError(await revoke(revokeRequest(minted.refreshToken, { clientId: 'nobody' })), 401, 'invalid_client');
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoked_at: null });
    // client_secret_post works as well.
    expectRevoked(await revoke(revokeRequest(minted.refreshToken, { clientId: 'staging', secret: STAGING_SECRET, style: 'form' })));
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_client' });
  });

  it('public clients send only their client_id', async () => {
    const minted = await env.mint('prod');
    expectRevoked(await revoke(revokeRequest(minted.refreshToken, { style: 'form' })));
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_client' });
    const unauthenticated = revokeRequest(minted.refreshToken, { style: 'form' });
    unauthenticated.body = new URLSearchParams({ token: minted.refreshToken }).toString();
    expectError(await revoke(unauthenticated), 401, 'invalid_client');
  });

  it('answers 200 for unknown, malformed and already revoked tokens, writing nothing (no oracle)', async () => {
    const minted = await env.mint('prod');
    expectRevoked(await revoke(revokeRequest(minted.refreshToken)));
    const before = await storeSnapshot(env.store);
    for (const token of ['kgr_' + 'A'.repeat(43), 'not a token', minted.refreshToken]) {
      expectRevoked(await revoke(revokeRequest(token, { hint: 'refresh_token' })));
    }
    // A wrong hint does not stop the look-up (RFC 7009 §2.1).
    expectRevoked(await revoke(revokeRequest('kgr_' + 'B'.repeat(43), { hint: 'access_token' })));
    expect(await storeSnapshot(env.store)).toBe(before);
  });

  it('looks a refresh token up whatever the hint says', async () => {
    const minted = await env.mint('prod');
    expectRevoked(await revoke(revokeRequest(minted.refreshToken, { hint: 'access_token' })));
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_client' });
  });

  it('refuses an id_token (our access token) with unsupported_token_type: it cannot be revoked on its own', async () => {
    const minted = await env.mint('prod');
    const before = await storeSnapshot(env.store);
    const d = expectError(await revoke(revokeRequest(minted.idToken, { hint: 'access_token' })), 400, 'unsupported_token_type');
    expect(d).toMatch(/refresh token/);
    expect(await storeSnapshot(env.store)).toBe(before);
  });

  it('validates the request: token required, form body, POST only, no repeated parameters', async () => {
    expect(expectError(await revoke(revokeRequest(undefined)), 400, 'invalid_request')).toMatch(/token is required/);
    const json = revokeRequest('x');
    json.headers['content-type'] = 'application/json';
    expect(expectError(await revoke(json), 400, 'invalid_request')).toMatch(/x-www-form-urlencoded/);
    const get = await revoke({ ...revokeRequest('x'), method: 'GET' });
    expectError(get, 405, 'invalid_request');
    expect(get.headers.allow).toBe('POST');
    const twice = revokeRequest('x');
    twice.body += '&token=y';
    expect(expectError(await revoke(twice), 400, 'invalid_request')).toMatch(/repeated/);
  });

  it('slows down an address that keeps failing, like the token endpoint', async () => {
    const { burst } = env.config.server.token_rate_limit.per_address_failures;
    for (let i = 0; i < burst; i++) expectRevoked(await revoke(revokeRequest(`kgr_${String(i).padStart(43, 'x')}`, { ip: '198.51.100.9' })));
    const limited = await revoke(revokeRequest('kgr_' + 'C'.repeat(43), { ip: '198.51.100.9' }));
    expectError(limited, 429, 'slow_down');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    expectRevoked(await revoke(revokeRequest('kgr_' + 'C'.repeat(43), { ip: '198.51.100.10' })));
  });

  it('is served by the issuer routes at the advertised revocation_endpoint', async () => {
    const route = createIssuerRoutes(env.rt.issuerDeps);
    const doc = bodyOf<Record<string, unknown>>(await route('/.well-known/openid-configuration')!({ method: 'GET', headers: {}, body: '' }));
    expect(doc).toMatchObject({
      revocation_endpoint: 'https://kubegate.example.com/oidc/revoke',
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    });
    const minted = await env.mint('prod');
    expectRevoked(await route('/oidc/revoke')!(revokeRequest(minted.refreshToken)));
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_client' });
  });
});
