/**
 * Every way a token request fails, against the built server: the status,
 * the exact error body, no caching, and that a failure never consumes the
 * token or takes the server down.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectOAuthError } from './support/assert';
import { basic, form, kubectlRefresh, kubectlRetryRefresh, raw, tokenRequest, type TokenCall } from './support/client';
import { STAGE_SECRET } from './support/kubegate';
import { openSeeder, readFamilyRow, readTokenRow, type Seeder } from './support/seed';

const { issuer, configPath, dbPath } = inject('kubegate');
let seeder: Seeder;

beforeAll(async () => {
  seeder = await openSeeder(configPath);
});
afterAll(async () => {
  await seeder?.close();
});

const refreshForm = (token: string, extra: Record<string, string> = {}) => form({ grant_type: 'refresh_token', refresh_token: token, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The token is still the family head: the failed request did not spend it. */
async function expectStillUsable(token: string, cluster: 'prod' | 'stage' = 'prod') {
  expect(readTokenRow(dbPath, token)?.used_at).toBeNull();
  const r =
    cluster === 'prod' ? await kubectlRefresh(issuer, 'kubernetes', '', token) : await kubectlRefresh(issuer, 'stage-cluster', STAGE_SECRET, token);
  expect(r.status, r.text).toBe(200);
}

async function healthy() {
  const res = await fetch(`${issuer}/healthz`);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

describe('client authentication', () => {
  it('wrong secret via Basic: 401 invalid_client with a Basic challenge', async () => {
    const { refreshToken } = await seeder.mint('stage');
    const r = await kubectlRefresh(issuer, 'stage-cluster', 'wrong', refreshToken);
    expectOAuthError(r, 401, 'invalid_client');
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="kubegate"');
    await expectStillUsable(refreshToken, 'stage');
  });

  it('the secret not urlencoded before Basic encoding is a wrong secret', async () => {
    const { refreshToken } = await seeder.mint('stage');
    // '%' alone is not valid form encoding; '+' would decode to a space.
    const r = await tokenRequest(issuer, refreshForm(refreshToken), {
      authorization: 'Basic ' + Buffer.from(`stage-cluster:${STAGE_SECRET}`).toString('base64'),
    });
    expectOAuthError(r, 401, 'invalid_client');
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="kubegate"');
  });

  it('wrong secret in the form: 401 invalid_client, no challenge (none was tried)', async () => {
    const { refreshToken } = await seeder.mint('stage');
    const r = await kubectlRetryRefresh(issuer, 'stage-cluster', 'wrong', refreshToken);
    expectOAuthError(r, 401, 'invalid_client');
    expect(r.headers.get('www-authenticate')).toBeNull();
  });

  it('missing secret for a confidential client: 401 invalid_client', async () => {
    const { refreshToken } = await seeder.mint('stage');
    expectOAuthError(await kubectlRefresh(issuer, 'stage-cluster', '', refreshToken), 401, 'invalid_client');
    expectOAuthError(await kubectlRetryRefresh(issuer, 'stage-cluster', '', refreshToken), 401, 'invalid_client');
    await expectStillUsable(refreshToken, 'stage');
  });

  it('unknown client: 401 invalid_client (Basic with challenge, form without)', async () => {
    const { refreshToken } = await seeder.mint('prod');
    const viaBasic = await kubectlRefresh(issuer, 'nobody', '', refreshToken);
    expectOAuthError(viaBasic, 401, 'invalid_client', /unknown client/);
    expect(viaBasic.headers.get('www-authenticate')).toBe('Basic realm="kubegate"');
    const viaForm = await kubectlRetryRefresh(issuer, 'nobody', 'revoked_by_user', refreshToken);
    expectOAuthError(viaForm, 401, 'invalid_client', /unknown client/);
    await expectStillUsable(refreshToken);
  });

  it('a secret sent for the public client: 401 invalid_client', async () => {
    const { refreshToken } = await seeder.mint('prod');
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', 'not-a-secret', refreshToken), 401, 'invalid_client', /public/);
    expectOAuthError(await kubectlRetryRefresh(issuer, 'kubernetes', 'not-a-secret', refreshToken), 401, 'invalid_client', /public/);
    await expectStillUsable(refreshToken);
  });

  it('no client authentication at all: 401 invalid_client', async () => {
    const { refreshToken } = await seeder.mint('prod');
    expectOAuthError(await tokenRequest(issuer, refreshForm(refreshToken)), 401, 'invalid_client');
  });

  it('both methods (Basic and client_secret in the form): 400 invalid_request', async () => {
    const { refreshToken } = await seeder.mint('stage');
    const r = await tokenRequest(issuer, refreshForm(refreshToken, { client_id: 'stage-cluster', client_secret: STAGE_SECRET }), {
      authorization: basic('stage-cluster', STAGE_SECRET),
    });
    expectOAuthError(r, 400, 'invalid_request', /one client authentication method/);
    await expectStillUsable(refreshToken, 'stage');
  });

  it('Basic and a different client_id in the form: 400 invalid_request', async () => {
    const { refreshToken } = await seeder.mint('prod');
    const r = await tokenRequest(issuer, refreshForm(refreshToken, { client_id: 'stage-cluster' }), { authorization: basic('kubernetes', '') });
    expectOAuthError(r, 400, 'invalid_request', /does not match/);
  });

  it.each([
    ['a malformed Basic header', 'Basic not*base64'],
    ['Basic without a colon', 'Basic ' + Buffer.from('kubernetes').toString('base64')],
    ['a bad percent escape', 'Basic ' + Buffer.from('kube%zz:').toString('base64')],
    ['another scheme', 'Bearer abc'],
  ])('%s: 401 invalid_client with a challenge', async (_what, authorization) => {
    const { refreshToken } = await seeder.mint('prod');
    const r = await tokenRequest(issuer, refreshForm(refreshToken), { authorization });
    expectOAuthError(r, 401, 'invalid_client');
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="kubegate"');
  });
});

describe('request format', () => {
  it.each([
    ['application/json', JSON.stringify({ grant_type: 'refresh_token' })],
    ['text/plain', 'grant_type=refresh_token'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nrefresh_token\r\n--x--\r\n'],
    ['application/x-www-form-urlencodedX', 'grant_type=refresh_token'],
  ])('content type %s: 400 invalid_request', async (contentType, body) => {
    const r = await tokenRequest(issuer, body, { contentType, authorization: basic('kubernetes', '') });
    expectOAuthError(r, 400, 'invalid_request', /x-www-form-urlencoded/);
  });

  it('no content type: 400 invalid_request', async () => {
    const res = await raw(issuer, { method: 'POST', path: '/oidc/token', headers: { authorization: basic('kubernetes', '') }, body: 'grant_type=refresh_token' });
    const r: TokenCall = { status: res.status, headers: new Headers(res.headers as Record<string, string>), json: JSON.parse(res.body), text: res.body };
    expectOAuthError(r, 400, 'invalid_request');
  });

  it('a repeated parameter: 400 invalid_request, and neither value is spent', async () => {
    const a = await seeder.mint('prod');
    const b = await seeder.mint('prod');
    const body = form([
      ['grant_type', 'refresh_token'],
      ['refresh_token', a.refreshToken],
      ['refresh_token', b.refreshToken],
    ]);
    expectOAuthError(await tokenRequest(issuer, body, { authorization: basic('kubernetes', '') }), 400, 'invalid_request', /repeated/);
    const twiceGrant = form([
      ['grant_type', 'refresh_token'],
      ['grant_type', 'refresh_token'],
      ['refresh_token', a.refreshToken],
    ]);
    expectOAuthError(await tokenRequest(issuer, twiceGrant, { authorization: basic('kubernetes', '') }), 400, 'invalid_request', /repeated/);
    await expectStillUsable(a.refreshToken);
    await expectStillUsable(b.refreshToken);
  });

  it('missing grant_type: 400 invalid_request', async () => {
    const { refreshToken } = await seeder.mint('prod');
    const r = await tokenRequest(issuer, form({ refresh_token: refreshToken }), { authorization: basic('kubernetes', '') });
    expectOAuthError(r, 400, 'invalid_request', /grant_type/);
    expectOAuthError(await tokenRequest(issuer, form({ grant_type: '', refresh_token: refreshToken }), { authorization: basic('kubernetes', '') }), 400, 'invalid_request', /grant_type/);
  });

  // authorization_code and device_code are served now (test/http/authz*.test.ts).
  it.each(['password', 'client_credentials', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer'])(
    'grant_type %s: 400 unsupported_grant_type',
    async (grantType) => {
      const { refreshToken } = await seeder.mint('prod');
      const r = await tokenRequest(issuer, form({ grant_type: grantType, refresh_token: refreshToken, code: 'x' }), { authorization: basic('kubernetes', '') });
      expectOAuthError(r, 400, 'unsupported_grant_type');
      await expectStillUsable(refreshToken);
    },
  );

  it('missing refresh_token: 400 invalid_request', async () => {
    expectOAuthError(await tokenRequest(issuer, form({ grant_type: 'refresh_token' }), { authorization: basic('kubernetes', '') }), 400, 'invalid_request', /refresh_token/);
    expectOAuthError(
      await tokenRequest(issuer, form({ grant_type: 'refresh_token', refresh_token: '' }), { authorization: basic('kubernetes', '') }),
      400,
      'invalid_request',
      /refresh_token/,
    );
  });

  it.each([
    ['garbage', 'abc'],
    ['a JWT', 'eyJhbGciOiJub25lIn0.e30.'],
    ['the right prefix, too short', 'kgr_abc'],
    ['the right shape plus one', `kgr_${'A'.repeat(44)}`],
    ['a non-ASCII token', `kgr_${'é'.repeat(43)}`],
  ])('malformed refresh_token (%s): 400 invalid_grant', async (_what, token) => {
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', '', token), 400, 'invalid_grant');
  });

  it('a well-formed but unknown refresh_token: 400 invalid_grant', async () => {
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', '', `kgr_${'A'.repeat(43)}`), 400, 'invalid_grant');
  });

  it('GET: 405 with Allow: POST', async () => {
    const res = await fetch(`${issuer}/oidc/token?grant_type=refresh_token`, { headers: { authorization: basic('kubernetes', '') } });
    const text = await res.text();
    const r: TokenCall = { status: res.status, headers: res.headers, json: JSON.parse(text), text };
    expectOAuthError(r, 405, 'invalid_request');
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('PUT and DELETE: 405', async () => {
    for (const method of ['PUT', 'DELETE']) {
      const res = await raw(issuer, { method, path: '/oidc/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token' });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('POST');
    }
  });
});

describe('oversized bodies', () => {
  const big = (n: number) => form({ grant_type: 'refresh_token', refresh_token: 'revoked_by_user', padding: 'p'.repeat(n) });

  it('> 16 KiB with Content-Length: 413, and the server stays up', async () => {
    const body = big(17 * 1024);
    const res = await raw(issuer, {
      method: 'POST',
      path: '/oidc/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), authorization: basic('kubernetes', '') },
      body,
    });
    expect(res.status).toBe(413);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(res.body)).toEqual({ error: 'invalid_request', error_description: 'the request body is larger than 16384 bytes' });
    await healthy();
  });

  it('> 16 KiB chunked (no Content-Length): 413, and the server stays up', async () => {
    const chunk = Buffer.from('p'.repeat(4096));
    const res = await raw(issuer, {
      method: 'POST',
      path: '/oidc/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked', authorization: basic('kubernetes', '') },
      chunks: [Buffer.from('grant_type=refresh_token&padding='), ...Array.from({ length: 8 }, () => chunk)],
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({ error: 'invalid_request', error_description: 'the request body is larger than 16384 bytes' });
    await healthy();
  });

  it('exactly 16 KiB is read (and then fails as a request, not as a size)', async () => {
    const base = form({ grant_type: 'refresh_token', refresh_token: 'revoked_by_user', padding: '' });
    const body = base + 'p'.repeat(16 * 1024 - base.length);
    expect(Buffer.byteLength(body)).toBe(16 * 1024);
    expectOAuthError(await tokenRequest(issuer, body, { authorization: basic('kubernetes', '') }), 400, 'invalid_grant');
  });

  it('a very large chunked body (2 MiB) is cut off, and the server stays up', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'p');
    const outcome = await raw(issuer, {
      method: 'POST',
      path: '/oidc/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' },
      chunks: Array.from({ length: 32 }, () => chunk),
    }).then(
      (r) => r.status,
      (e: NodeJS.ErrnoException) => e.code ?? 'error',
    );
    expect([413, 'ECONNRESET', 'EPIPE', 'error']).toContain(outcome);
    await healthy();
  });
});

describe('audience binding', () => {
  it('a token minted for prod, presented by the stage client: 400 invalid_grant, and not spent', async () => {
    const { refreshToken } = await seeder.mint('prod');
    const r = await kubectlRefresh(issuer, 'stage-cluster', STAGE_SECRET, refreshToken);
    expectOAuthError(r, 400, 'invalid_grant', /not issued to this client/);
    await expectStillUsable(refreshToken, 'prod');
  });

  it('a token minted for stage, presented by the public prod client: 400 invalid_grant', async () => {
    const { refreshToken } = await seeder.mint('stage');
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', '', refreshToken), 400, 'invalid_grant', /not issued to this client/);
    await expectStillUsable(refreshToken, 'stage');
  });
});

describe('reuse of a spent refresh token', () => {
  it('within the grace window: the same successor again', async () => {
    const { refreshToken: t0 } = await seeder.mint('prod');
    const first = await kubectlRefresh(issuer, 'kubernetes', '', t0);
    expect(first.status).toBe(200);
    const again = await kubectlRefresh(issuer, 'kubernetes', '', t0);
    expect(again.status, again.text).toBe(200);
    expect(again.json.refresh_token).toBe(first.json.refresh_token);
    expect(again.headers.get('cache-control')).toBe('no-store');
    // The replay did not spend the successor.
    expect(readTokenRow(dbPath, first.json.refresh_token as string)?.used_at).toBeNull();
    const next = await kubectlRefresh(issuer, 'kubernetes', '', first.json.refresh_token as string);
    expect(next.status).toBe(200);
  });

  it('within the grace window, two generations back: the head', async () => {
    const { refreshToken: t0 } = await seeder.mint('prod');
    const r1 = await kubectlRefresh(issuer, 'kubernetes', '', t0);
    const r2 = await kubectlRefresh(issuer, 'kubernetes', '', r1.json.refresh_token as string);
    expect(r2.status).toBe(200);
    const again = await kubectlRefresh(issuer, 'kubernetes', '', t0);
    expect(again.status).toBe(200);
    expect(again.json.refresh_token).toBe(r2.json.refresh_token);
  });

  it('concurrent refreshes of one token all get the same successor', async () => {
    const { refreshToken: t0, family } = await seeder.mint('prod');
    const rs = await Promise.all(Array.from({ length: 8 }, () => kubectlRefresh(issuer, 'kubernetes', '', t0)));
    for (const r of rs) expect(r.status, r.text).toBe(200);
    expect(new Set(rs.map((r) => r.json.refresh_token)).size).toBe(1);
    expect(readFamilyRow(dbPath, family.id)).toMatchObject({ generation: 1, revoked_at: null });
  });

  it('after the grace window: invalid_grant, and the family newest token is dead too', async () => {
    const { refreshToken: t0, family } = await seeder.mint('prod');
    const first = await kubectlRefresh(issuer, 'kubernetes', '', t0);
    expect(first.status).toBe(200);
    const head = first.json.refresh_token as string;
    await sleep(2_300); // refresh_reuse_grace is 2s
    // Exactly what happened: this credential (its refresh-token family) is revoked, not the sign-in.
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', '', t0), 400, 'invalid_grant', /^this refresh token was already used; .* this credential has been revoked; get a new one at /);
    expect(readFamilyRow(dbPath, family.id)).toMatchObject({ revoke_reason: 'refresh_token_reuse' });
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', '', head), 400, 'invalid_grant', /^this credential has been revoked \(a spent refresh token of it was presented again\)/);
    const audit = await seeder.store.listAudit({ limit: 10, familyId: family.id });
    expect(audit.map((a) => a.kind)).toContain('token.reuse_detected');
    expect(JSON.stringify(audit)).not.toContain(t0);
    expect(JSON.stringify(audit)).not.toContain(head);
  });

  it('a revoked login session ends every family minted from it', async () => {
    const who = await seeder.signIn('bob', ['ops']);
    const a = await seeder.mint('prod', who);
    const b = await seeder.mint('stage', who);
    await seeder.store.revokeLoginSession(who.session.id, 'sign_out', Date.now(), { kind: 'session.logout' });
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', '', a.refreshToken), 400, 'invalid_grant');
    expectOAuthError(await kubectlRefresh(issuer, 'stage-cluster', STAGE_SECRET, b.refreshToken), 400, 'invalid_grant');
  });
});

describe('after all of the above', () => {
  it('the server is still healthy and answers a normal refresh', async () => {
    await healthy();
    const { refreshToken } = await seeder.mint('prod');
    expect((await kubectlRefresh(issuer, 'kubernetes', '', refreshToken)).status).toBe(200);
  });
});
