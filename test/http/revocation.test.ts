/**
 * POST /oidc/revoke (RFC 7009) against the built server, called by a strict
 * OAuth client (oauth4webapi) from the advertised metadata, and the audit
 * trail Kubegate prints to its stdout as JSON lines (audit.stdout).
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_PASSWORD } from '../support/fixtures';
import { TestBrowser } from './support/browser';
import { runKubegate } from './support/admin';
import { expectOAuthError } from './support/assert';
import { basic, form, kubectlRefresh, raw, tokenRequest } from './support/client';
import { KubegateServer, prepareKubegate, STAGE_SECRET } from './support/kubegate';
import { openSeeder, readFamilyRow, type Seeder } from './support/seed';
import type { LoginSession, User } from '../../lib/store/types';

const DASH_SECRET = 'dash-secret-0123456789';
const insecure = { [oauth.allowInsecureRequests]: true };
const kubectl: oauth.Client = { client_id: 'kubernetes' };
let server: KubegateServer;
let issuer: string;
let as: oauth.AuthorizationServer;
let seeder: Seeder;
let browser: TestBrowser;
let signedIn: { user: User; session: LoginSession };

beforeAll(async () => {
  server = new KubegateServer(
    await prepareKubegate({ clients: [{ client_id: 'dashboard', cluster: 'prod', client_secret: DASH_SECRET, redirect_uris: ['https://dash.example.com/cb'] }] }, 'kubegate-revoke-'),
  );
  await server.start();
  issuer = server.url;
  as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), insecure));
  seeder = await openSeeder(server.files.configPath);
  // A real portal sign-in, so its Sessions page can show what a revocation did to its credential.
  browser = new TestBrowser(issuer);
  await browser.signIn('alice', LOCAL_PASSWORD);
  const [user] = await seeder.store.findUsersByUsername('alice');
  const [session] = await seeder.store.listLoginSessions({ userId: user!.id, activeAt: Date.now() });
  signedIn = { user: user!, session: session! };
}, 90_000);
afterAll(async () => {
  await seeder?.close();
  await server?.stop();
});

/** The JSON lines Kubegate printed to stdout that are audit events. */
function auditLines(): Array<Record<string, unknown>> {
  return server
    .tail(100_000)
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"audit":true'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits for the printed audit lines to satisfy `done` (stdout reaches the pipe asynchronously). */
async function waitForAudit(done: (lines: Array<Record<string, unknown>>) => boolean): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = auditLines();
    if (done(lines) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The credential's status cell on the Sessions page, as text. */
async function credentialStatusOnSessionsPage(): Promise<string[]> {
  const page = await browser.request(`${issuer}/sessions`);
  expect(page.status, page.body.slice(0, 300)).toBe(200);
  return [...page.body.matchAll(/data-testid="credential-status"[^>]*>([\s\S]*?)<\/td>/g)].map((m) =>
    m[1]!.replace(/<!--.*?-->/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim(),
  );
}

describe('RFC 7009 revocation endpoint', () => {
  it('is advertised in discovery, with the token endpoint client authentication methods', () => {
    expect(as.revocation_endpoint).toBe(`${issuer}/oidc/revoke`);
    expect(as.revocation_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'none']);
  });

  it('revokes the credential: the next refresh is refused (invalid_grant) and the Sessions page shows it revoked', async () => {
    const minted = await seeder.mint('prod', signedIn);
    const first = await kubectlRefresh(issuer, 'kubernetes', '', minted.refreshToken);
    expect(first.status, first.text).toBe(200);
    const head = first.json.refresh_token as string;
    expect(await credentialStatusOnSessionsPage()).toEqual(['active']);

    const res = await oauth.revocationRequest(as, kubectl, oauth.None(), head, { ...insecure, additionalParameters: { token_type_hint: 'refresh_token' } });
    expect(res.headers.get('cache-control')).toBe('no-store');
    await oauth.processRevocationResponse(res);

    expect(readFamilyRow(server.files.dbPath, minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_client', revoked_at: expect.any(Number) });
    expectOAuthError(await kubectlRefresh(issuer, 'kubernetes', '', head), 400, 'invalid_grant', /revoked/);
    expect(await credentialStatusOnSessionsPage()).toEqual([expect.stringMatching(/^revoked revoked by the program that held it/)]);

    // Revoking it again, or by its spent first token, is still a plain 200 (nothing left to revoke).
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, kubectl, oauth.None(), minted.refreshToken, insecure));
    const printed = await waitForAudit((l) => l.some((e) => e.kind === 'family.revoked' && e.family_id === minted.family.id));
    expect(printed.filter((e) => e.kind === 'family.revoked' && e.family_id === minted.family.id)).toEqual([
      expect.objectContaining({ audit: true, username: 'alice', cluster: 'prod', details: expect.objectContaining({ reason: 'revoked_by_client', by_client: 'kubernetes' }) }),
    ]);
  });

  it("refuses another client's token (unauthorized_client) and leaves it working", async () => {
    const minted = await seeder.mint('prod');
    const dashboard: oauth.Client = { client_id: 'dashboard' };
    const res = await oauth.revocationRequest(as, dashboard, oauth.ClientSecretBasic(DASH_SECRET), minted.refreshToken, insecure);
    expect(res.status).toBe(400);
    await expect(oauth.processRevocationResponse(res)).rejects.toMatchObject({ error: 'unauthorized_client' });
    expect(readFamilyRow(server.files.dbPath, minted.family.id)).toMatchObject({ revoked_at: null });
    expect((await kubectlRefresh(issuer, 'kubernetes', '', minted.refreshToken)).status).toBe(200);
  });

  it('authenticates a confidential client like the token endpoint', async () => {
    const minted = await seeder.mint('stage');
    const stage: oauth.Client = { client_id: 'stage-cluster' };
    const wrong = await oauth.revocationRequest(as, stage, oauth.ClientSecretBasic('wrong'), minted.refreshToken, insecure);
    expect(wrong.status).toBe(401);
    // RFC 6749 §5.2: Basic was tried, so a Basic challenge (which oauth4webapi reports as such) and invalid_client.
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="kubegate"');
    expect(await wrong.json()).toMatchObject({ error: 'invalid_client' });
    expect(readFamilyRow(server.files.dbPath, minted.family.id)).toMatchObject({ revoked_at: null });
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, stage, oauth.ClientSecretPost(STAGE_SECRET), minted.refreshToken, insecure));
    expect(readFamilyRow(server.files.dbPath, minted.family.id)).toMatchObject({ revoke_reason: 'revoked_by_client' });
  });

  it('answers 200 for an unknown token, and unsupported_token_type for an id_token', async () => {
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, kubectl, oauth.None(), 'kgr_' + 'Q'.repeat(43), insecure));
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, kubectl, oauth.None(), 'no-such-token', insecure));
    const minted = await seeder.mint('prod');
    const res = await oauth.revocationRequest(as, kubectl, oauth.None(), minted.idToken, { ...insecure, additionalParameters: { token_type_hint: 'access_token' } });
    await expect(oauth.processRevocationResponse(res)).rejects.toMatchObject({ error: 'unsupported_token_type' });
    expect(readFamilyRow(server.files.dbPath, minted.family.id)).toMatchObject({ revoked_at: null });
  });

  it('accepts only POST (405 with Allow) and only a form body (400)', async () => {
    const get = await raw(issuer, { path: '/oidc/revoke' });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.headers['cache-control']).toBe('no-store');
    const json = await raw(issuer, {
      method: 'POST',
      path: '/oidc/revoke',
      headers: { 'content-type': 'application/json', authorization: basic('kubernetes', '') },
      body: JSON.stringify({ token: 'kgr_x' }),
    });
    expect(json.status).toBe(400);
    expect(JSON.parse(json.body)).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/x-www-form-urlencoded/) });
    const missing = await raw(issuer, {
      method: 'POST',
      path: '/oidc/revoke',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('kubernetes', '') },
      body: form({ token_type_hint: 'refresh_token' }),
    });
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body)).toMatchObject({ error: 'invalid_request', error_description: 'token is required' });
  });
});

describe('audit events on stdout', () => {
  it('a refresh prints exactly one token.refreshed JSON line, carrying no token', async () => {
    const minted = await seeder.mint('prod');
    const r = await tokenRequest(issuer, form({ grant_type: 'refresh_token', refresh_token: minted.refreshToken }), { authorization: basic('kubernetes', '') });
    expect(r.status, r.text).toBe(200);
    const requestId = r.headers.get('x-request-id');
    const mine = (l: Array<Record<string, unknown>>) => l.filter((e) => e.kind === 'token.refreshed' && e.family_id === minted.family.id);
    const printed = mine(await waitForAudit((l) => mine(l).length > 0));
    expect(printed).toEqual([
      {
        time: expect.any(String),
        level: 'info',
        msg: 'audit',
        audit: true,
        id: expect.any(String),
        kind: 'token.refreshed',
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        user_id: minted.family.user_id,
        username: 'alice',
        cluster: 'prod',
        family_id: minted.family.id,
        session_id: minted.family.login_session_id,
        client_ip: '127.0.0.1',
        request_id: requestId,
        details: { generation: 1 },
      },
    ]);
    // The same event the database holds.
    const [stored] = await seeder.store.listAudit({ limit: 1, familyId: minted.family.id, kind: 'token.refreshed' });
    expect(printed[0]!.id).toBe(stored!.id);
    const log = server.tail(100_000);
    for (const token of [minted.refreshToken, r.json.refresh_token as string, r.json.id_token as string]) expect(log).not.toContain(token.slice(4, 40));
  });

  it("an admin command's events go to the database, not into its own output", async () => {
    const { session } = await seeder.signIn('bob', ['ops']);
    const run = await runKubegate(server.files.configPath, 'revoke-session', session.id);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('revoked');
    expect(run.stdout).not.toContain('"audit"');
    const [event] = await seeder.store.listAudit({ limit: 1, kind: 'session.revoked' });
    expect(event).toMatchObject({ session_id: session.id, username: 'bob' });
  });
});
