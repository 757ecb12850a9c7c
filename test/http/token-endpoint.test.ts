/** POST /oidc/token: the refresh grant as kubectl sends it, against the built server. */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { STAGE_SECRET } from './support/kubegate';
import { kubectlRefresh, kubectlRetryRefresh, type TokenCall } from './support/client';
import { openSeeder, readTokenRow, type Seeder } from './support/seed';

const { issuer, configPath, dbPath } = inject('kubegate');
const jwks = createRemoteJWKSet(new URL(`${issuer}/oidc/jwks`));
let seeder: Seeder;

beforeAll(async () => {
  seeder = await openSeeder(configPath);
});
afterAll(async () => {
  await seeder?.close();
});

async function expectTokenResponse(r: TokenCall, sent: string, audience: string): Promise<string> {
  expect(r.status, r.text).toBe(200);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('pragma')).toBe('no-cache');
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(r.json).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
  expect(r.json).toMatchObject({ token_type: 'Bearer', expires_in: 60, scope: 'openid' });
  const refresh = r.json.refresh_token as string;
  expect(refresh).toMatch(/^kgr_[A-Za-z0-9_-]{43}$/);
  expect(refresh).not.toBe(sent);
  const idToken = r.json.id_token as string;
  expect(r.json.access_token).toBe(idToken);
  const { payload, protectedHeader } = await jwtVerify(idToken, jwks, { issuer, audience, algorithms: ['RS256'] });
  expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' });
  expect(payload.exp! - payload.iat!).toBe(60);
  expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5);
  return refresh;
}

describe.each([
  { cluster: 'prod', clientId: 'kubernetes', secret: '' },
  { cluster: 'stage', clientId: 'stage-cluster', secret: STAGE_SECRET },
])('refresh for $cluster ($clientId)', ({ cluster, clientId, secret }) => {
  it("accepts kubectl's first shape: Basic urlencoded id:secret, only grant_type and refresh_token in the form", async () => {
    const minted = await seeder.mint(cluster);
    const r = await kubectlRefresh(issuer, clientId, secret, minted.refreshToken);
    await expectTokenResponse(r, minted.refreshToken, clientId);
  });

  it("accepts kubectl's retry shape: client_id/client_secret in the form, no Authorization header", async () => {
    const minted = await seeder.mint(cluster);
    const r = await kubectlRetryRefresh(issuer, clientId, secret, minted.refreshToken);
    await expectTokenResponse(r, minted.refreshToken, clientId);
  });

  it('chains: each successor refreshes once more, and the id_token carries the user', async () => {
    const minted = await seeder.mint(cluster);
    let token = minted.refreshToken;
    for (let i = 0; i < 3; i++) {
      const r = await kubectlRefresh(issuer, clientId, secret, token);
      const next = await expectTokenResponse(r, token, clientId);
      const row = readTokenRow(dbPath, next);
      expect(row).toMatchObject({ family_id: minted.family.id, generation: i + 1, used_at: null });
      token = next;
    }
    const last = await kubectlRefresh(issuer, clientId, secret, token);
    await expectTokenResponse(last, token, clientId);
    const { payload } = await jwtVerify(last.json.id_token as string, jwks, { issuer, audience: clientId });
    const { user } = (await seeder.store.getLoginSession(minted.family.login_session_id))!;
    expect(payload).toMatchObject({
      sub: user.id,
      preferred_username: 'alice',
      email: 'alice@example.com',
      name: 'Test alice',
      groups: user.groups,
      amr: ['pwd'],
    });
    expect(payload.auth_time).toBeTypeOf('number');
  });
});

describe('request details kubectl varies', () => {
  it('accepts a charset on the content type and ignores unknown parameters (RFC 6749 §3.2)', async () => {
    const minted = await seeder.mint('prod');
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: minted.refreshToken, foo: 'bar', scope: 'openid' }).toString();
    const res = await fetch(`${issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', authorization: 'Basic ' + Buffer.from('kubernetes:').toString('base64') },
      body,
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it('accepts a matching client_id in the form alongside Basic', async () => {
    const minted = await seeder.mint('stage');
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: minted.refreshToken, client_id: 'stage-cluster' }).toString();
    const res = await fetch(`${issuer}/oidc/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'Basic ' + Buffer.from('stage-cluster:' + encodeURIComponent(STAGE_SECRET)).toString('base64'),
      },
      body,
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });
});
