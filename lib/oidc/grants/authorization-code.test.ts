import { createHash } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basicAuth, bodyOf, openTestEnv, SECOND, STAGING_SECRET, type TestEnv, type TokenSuccess } from '../../../test/support/fixtures';
import { continueAuthorization, handleAuthorizeRequest } from '../authorize';
import type { IssuerRequest, IssuerResponse } from '../http';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const ISSUER = 'https://kubegate.example.com';
const VERIFIER = 'kubelogin-verifier-0123456789-abcdefghijklmnopqrstuvwxyz';
const CHALLENGE = createHash('sha256').update(VERIFIER).digest('base64url');
const REDIRECT = 'http://localhost:8000';

/** The whole browser leg: authorize, sign in, continue; returns the code. */
async function codeFor(o: { clientId?: string; nonce?: string; challenge?: string | null } = {}): Promise<{ code: string; sessionId: string }> {
  const params: Record<string, string> = { client_id: o.clientId ?? 'kubernetes', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 's', nonce: o.nonce ?? 'n-123' };
  if (o.challenge !== null) Object.assign(params, { code_challenge: o.challenge ?? CHALLENGE, code_challenge_method: 'S256' });
  const res = await handleAuthorizeRequest({ method: 'GET', url: `/oidc/authorize?${new URLSearchParams(params)}`, headers: {}, body: '' }, env.rt.issuerDeps);
  const id = new URL(res.headers.location!).searchParams.get('request');
  const browser = await env.signIn();
  const out = await continueAuthorization(env.rt.authzDeps, id, browser);
  if (out.kind !== 'redirect') throw new Error(`expected a redirect, got ${JSON.stringify(out)}`);
  return { code: new URL(out.location).searchParams.get('code')!, sessionId: browser.session.id };
}

function exchange(code: string, o: { verifier?: string | null; redirectUri?: string; clientId?: string; secret?: string } = {}): Promise<IssuerResponse> {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: o.redirectUri ?? REDIRECT });
  if (o.verifier !== null) form.set('code_verifier', o.verifier ?? VERIFIER);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (o.secret !== undefined) headers.authorization = basicAuth(o.clientId ?? 'kubernetes', o.secret);
  else form.set('client_id', o.clientId ?? 'kubernetes');
  const req: IssuerRequest = { method: 'POST', headers, body: form.toString(), clientIp: '192.0.2.30', requestId: 'req-code' };
  return env.token(req);
}

function expectInvalidGrant(res: IssuerResponse, description: RegExp): void {
  expect(res.status, res.body).toBe(400);
  expect(bodyOf(res)).toEqual({ error: 'invalid_grant', error_description: expect.stringMatching(description) });
}

describe('grant_type=authorization_code', () => {
  it('gives an id_token (with the nonce, for the cluster audience) and a refresh token; the family is a cli credential of the sign-in', async () => {
    const { code, sessionId } = await codeFor();
    const res = await exchange(code);
    expect(res.status, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = bodyOf<TokenSuccess>(res);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 60 });
    expect(body.refresh_token).toMatch(/^kgr_/);
    const { payload } = await jwtVerify(body.id_token, createLocalJWKSet(JSON.parse(env.rt.keys.jwksJson())), {
      issuer: ISSUER,
      audience: 'kubernetes',
      currentDate: new Date(env.clock.now()),
    });
    expect(payload).toMatchObject({ nonce: 'n-123', preferred_username: 'alice' });
    const [family] = await env.store.listFamilies({ loginSessionId: sessionId });
    expect(family).toMatchObject({ origin: 'cli', client_id: 'kubernetes', cluster: 'prod', revoked_at: null });
    // The refresh token refreshes like any other, with an id_token every time.
    const refreshed = await env.refresh(body.refresh_token);
    expect(refreshed.status, refreshed.body).toBe(200);
    expect(bodyOf<TokenSuccess>(refreshed).id_token).toBeTruthy();
  });

  it("accepts golang.org/x/oauth2's first shape (kubelogin): Basic with an empty secret for a public client", async () => {
    const { code } = await codeFor();
    const res = await exchange(code, { secret: '' });
    expect(res.status, res.body).toBe(200);
  });

  it('a second redemption is refused and revokes the credential the first one produced', async () => {
    const { code, sessionId } = await codeFor();
    const first = bodyOf<TokenSuccess>(await exchange(code));
    expectInvalidGrant(await exchange(code), /already used.*revoked/);
    const [family] = await env.store.listFamilies({ loginSessionId: sessionId });
    expect(family).toMatchObject({ revoke_reason: 'authorization_code_reuse' });
    expect(family!.revoked_at).not.toBeNull();
    expect((await env.refresh(first.refresh_token)).status).toBe(400);
    const audit = await env.store.listAudit({ limit: 10, kind: 'token.reuse_detected' });
    expect(audit[0]).toMatchObject({ family_id: family!.id, details: { grant: 'authorization_code' } });
  });

  it('two redemptions at once: whatever the interleaving, the credential made from the code ends revoked', async () => {
    const { code, sessionId } = await codeFor();
    const results = await Promise.all([exchange(code), exchange(code)]);
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
    expect(results.some((r) => r.status === 400 && bodyOf<{ error: string }>(r).error === 'invalid_grant')).toBe(true);
    const families = await env.store.listFamilies({ loginSessionId: sessionId });
    expect(families).toHaveLength(1);
    expect(families[0]).toMatchObject({ revoke_reason: 'authorization_code_reuse' });
  });

  it.each([
    ['a wrong verifier', { verifier: VERIFIER.replace(/.$/, '!') }, /code_verifier does not match/],
    ['another verifier', { verifier: 'another-verifier-0123456789-abcdefghijklmnopqrstuvwxyz' }, /code_verifier does not match/],
    ['the challenge as verifier (plain)', { verifier: CHALLENGE }, /code_verifier does not match/],
    ['no verifier', { verifier: null }, /code_verifier is required/],
    ['another redirect_uri', { redirectUri: 'http://localhost:18000' }, /redirect_uri does not match/],
    ['a trailing slash on the redirect_uri', { redirectUri: 'http://localhost:8000/' }, /redirect_uri does not match/],
    ['another client', { clientId: 'staging', secret: STAGING_SECRET }, /another client/],
  ])('%s: refused, and the code still works for its owner', async (_, o, description) => {
    const { code } = await codeFor();
    expectInvalidGrant(await exchange(code, o), description);
    expect((await exchange(code)).status).toBe(200);
  });

  it('a verifier for a code issued without a challenge is refused (downgrade)', async () => {
    const { code } = await codeFor({ clientId: 'staging', challenge: null });
    expectInvalidGrant(await exchange(code, { clientId: 'staging', secret: STAGING_SECRET }), /no code_challenge/);
    expect((await exchange(code, { clientId: 'staging', secret: STAGING_SECRET, verifier: null })).status).toBe(200);
  });

  it('a code lasts one minute', async () => {
    const { code } = await codeFor();
    env.clock.advance(61 * SECOND);
    expectInvalidGrant(await exchange(code), /unknown or has expired/);
  });

  it.each(['', 'kgc_short', 'not-a-code'])('a malformed code (%s) is refused', async (code) => {
    const res = await exchange(code);
    expect(res.status).toBe(400);
    expect(['invalid_grant', 'invalid_request']).toContain(bodyOf<{ error: string }>(res).error);
  });

  it('a sign-in revoked after the code was issued gives nothing', async () => {
    const { code, sessionId } = await codeFor();
    await env.store.revokeLoginSession(sessionId, 'sign_out', env.clock.now(), { kind: 'session.logout' });
    expectInvalidGrant(await exchange(code), /has ended/);
  });
});
