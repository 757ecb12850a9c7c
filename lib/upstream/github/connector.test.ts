import { createHash, randomBytes } from 'node:crypto';
import { customFetch } from '@auth/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startGitHubStandin, type GitHubStandin } from '../../../test/support/github-standin';
import type { User } from '../../store/types';
import { silentLogger } from '../../util/log';
import { UpstreamRefusal, type ConnectorContext } from '../types';
import { GITHUB_API_VERSION } from './api';
import { GitHubUpstreamSchema, type GitHubUpstreamConfig } from './config';
import { githubConnector as gh, GITHUB_SCOPES } from './index';

const CALLBACK = 'https://kubegate.example.com/api/auth/callback/github';
const ctx: ConnectorContext = { now: () => Date.UTC(2031, 0, 1), log: silentLogger };

let standin: GitHubStandin;

function seed(s: GitHubStandin) {
  s.users.splice(0, s.users.length,
    { id: 1001, login: 'alice', name: 'Alice Liddell', email: null, emails: [{ email: 'old@example.com', primary: false, verified: true }, { email: 'alice@acme.example', primary: true, verified: true }] },
    { id: 1002, login: 'mallory', name: 'Mallory', email: 'mallory@evil.example' },
    { id: 1003, login: 'bob', email: 'bob@acme.example' },
  );
  s.orgs.splice(0, s.orgs.length,
    { login: 'acme', members: ['alice', 'bob'] },
    { login: 'widgets', members: ['alice'] },
    { login: 'evil', members: ['mallory', 'alice'] },
  );
  s.teams.splice(0, s.teams.length,
    { org: 'acme', slug: 'platform', members: ['alice'] },
    { org: 'acme', slug: 'sre', members: ['alice', 'bob'] },
    { org: 'acme', slug: 'security', members: ['alice'] },
    { org: 'widgets', slug: 'ops', members: ['alice'] },
    { org: 'evil', slug: 'admins', members: ['alice', 'mallory'] },
  );
  s.maxPerPage = 100;
  s.fail(false);
  s.requests.length = 0;
}

beforeAll(async () => {
  standin = await startGitHubStandin({ apps: [{ client_id: 'Iv1.kubegate', client_secret: 'app-secret', callback_url: CALLBACK }] });
});
afterAll(() => standin.close());
beforeEach(() => seed(standin));
afterEach(() => standin.fail(false));

const config = (over: Record<string, unknown> = {}): GitHubUpstreamConfig =>
  GitHubUpstreamSchema.parse({
    id: 'github',
    type: 'github',
    client_id: 'Iv1.kubegate',
    client_secret: 'app-secret',
    base_url: standin.url,
    allow_insecure_http: true,
    orgs: [{ name: 'acme' }, { name: 'widgets', teams: ['ops'] }],
    timeout: 2,
    ...over,
  });

const storedUser = (subject: string, groups: string[] = []): User => ({
  id: 'u1',
  upstream: 'github',
  subject,
  username: 'alice',
  email: null,
  name: null,
  groups,
  created_at: 0,
  updated_at: 0,
});

/** The parts of the next-auth provider object these tests read. */
interface ProviderShape {
  id: string;
  authorization: { url: string; params: Record<string, string> };
  token: string;
  userinfo: { url: string };
}
const providerOf = (c: GitHubUpstreamConfig) => gh.provider(c) as unknown as ProviderShape;

async function refusal(p: Promise<unknown>): Promise<UpstreamRefusal> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamRefusal);
  return err as UpstreamRefusal;
}

describe('provider', () => {
  it('points next-auth at the configured server: GHES web flow at the root, API under /api/v3', () => {
    const p = providerOf(config());
    expect(p).toMatchObject({ id: 'github', type: 'oauth', clientId: 'Iv1.kubegate', checks: ['pkce', 'state'] });
    expect(p.authorization.url).toBe(`${standin.url}/login/oauth/authorize`);
    expect(p.authorization.params.scope).toBe('read:user user:email read:org');
    expect(p.token).toBe(`${standin.url}/login/oauth/access_token`);
    expect(p.userinfo.url).toBe(`${standin.apiUrl}/user`);
  });

  it('github.com: the browser goes to github.com, the API is api.github.com', () => {
    const c = GitHubUpstreamSchema.parse({ id: 'gh', type: 'github', client_id: 'x', client_secret: 'y', orgs: [{ name: 'acme' }] });
    const p = providerOf(c);
    expect([p.authorization.url, p.token, p.userinfo.url]).toEqual([
      'https://github.com/login/oauth/authorize',
      'https://github.com/login/oauth/access_token',
      'https://api.github.com/user',
    ]);
    expect(gh.formActionOrigins(c)).toEqual(['https://github.com']);
    expect(gh.presentation(c)).toEqual({ kind: 'button', label: 'GitHub' });
    expect(gh.presentation(config())).toEqual({ kind: 'button', label: 'GitHub Enterprise' });
  });

  it("the provider's URLs run the stand-in's code flow end to end (PKCE, client_secret_post), and complete() maps the token", async () => {
    const p = providerOf(config());
    const verifier = randomBytes(32).toString('base64url');
    const authorize = new URL(p.authorization.url);
    const params = {
      client_id: 'Iv1.kubegate',
      redirect_uri: CALLBACK,
      scope: p.authorization.params.scope ?? '',
      state: 'st4te',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    };
    const consent = await fetch(authorize, { method: 'POST', body: new URLSearchParams({ ...params, login: 'alice', decision: 'authorize' }), redirect: 'manual' });
    expect(consent.status).toBe(302);
    const back = new URL(consent.headers.get('location') ?? '');
    expect(back.origin + back.pathname).toBe(CALLBACK);
    expect(back.searchParams.get('state')).toBe('st4te');
    const code = back.searchParams.get('code') ?? '';

    const exchange = (body: Record<string, string>) =>
      fetch(p.token, { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams(body) }).then((r) => r.json() as Promise<Record<string, string>>);
    const base = { client_id: 'Iv1.kubegate', client_secret: 'app-secret', code, redirect_uri: CALLBACK };
    expect((await exchange({ ...base, code_verifier: randomBytes(32).toString('base64url') })).error).toBe('bad_verification_code');
    // The failed attempt spent the code, as GitHub's codes are single use.
    expect((await exchange({ ...base, code_verifier: verifier })).error).toBe('bad_verification_code');

    const again = await fetch(authorize, { method: 'POST', body: new URLSearchParams({ ...params, login: 'alice', decision: 'authorize' }), redirect: 'manual' });
    const code2 = new URL(again.headers.get('location') ?? '').searchParams.get('code') ?? '';
    expect((await exchange({ ...base, code: code2, client_secret: 'wrong', code_verifier: verifier })).error).toBe('incorrect_client_credentials');
    const again2 = await fetch(authorize, { method: 'POST', body: new URLSearchParams({ ...params, login: 'alice', decision: 'authorize' }), redirect: 'manual' });
    const code3 = new URL(again2.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const tokens = await exchange({ ...base, code: code3, code_verifier: verifier });
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read:user,user:email,read:org' });

    const signIn = await gh.complete(config(), { account: { ...tokens, provider: 'github' }, profile: {} }, ctx);
    expect(signIn.identity.username).toBe('alice');
    expect(signIn.recheckState).toBe(tokens.access_token);
  });

  it('the code exchange next-auth runs has the same deadline: a hanging token endpoint fails in time', async () => {
    const p = gh.provider(config({ timeout: 1 })) as unknown as { token: string; options: { [customFetch]: typeof fetch } };
    standin.fail('hang');
    const started = performance.now();
    const err = await p.options[customFetch](p.token, { method: 'POST', body: new URLSearchParams({ code: 'x' }) }).then(() => undefined, (e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it("the stand-in's authorize endpoint refuses an unregistered redirect_uri instead of redirecting there", async () => {
    const res = await fetch(`${standin.url}/login/oauth/authorize?client_id=Iv1.kubegate&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
  });
});

describe('complete', () => {
  it('subject is the numeric id, username the login, groups the allowed orgs and teams only', async () => {
    const token = standin.issueToken('alice');
    const { identity, amr, recheckState } = await gh.complete(config(), { account: { access_token: token }, profile: {} }, ctx);
    expect(identity).toEqual({
      upstream: 'github',
      subject: '1001',
      username: 'alice',
      // The primary verified address, not the first one listed.
      email: 'alice@acme.example',
      name: 'Alice Liddell',
      // `evil` is not configured; widgets admits (and maps) only its `ops` team.
      groups: ['acme', 'acme/platform', 'acme/security', 'acme/sre', 'widgets', 'widgets/ops'],
    });
    expect(amr).toEqual([]);
    expect(recheckState).toBe(token);
  });

  it('walks every page of /user/orgs and /user/teams by the Link header', async () => {
    standin.maxPerPage = 2;
    const { identity } = await gh.complete(config(), { account: { access_token: standin.issueToken('alice') }, profile: {} }, ctx);
    expect(identity.groups).toEqual(['acme', 'acme/platform', 'acme/security', 'acme/sre', 'widgets', 'widgets/ops']);
    const teamPages = standin.requests.filter((r) => r.path === '/api/v3/user/teams').map((r) => new URLSearchParams(r.query).get('page'));
    expect(teamPages).toEqual([null, '2', '3']);
    const orgPages = standin.requests.filter((r) => r.path === '/api/v3/user/orgs').map((r) => new URLSearchParams(r.query).get('page'));
    expect(orgPages).toEqual([null, '2']);
  });

  it('sends the headers GitHub documents on every API call', async () => {
    await gh.complete(config(), { account: { access_token: standin.issueToken('alice') }, profile: {} }, ctx);
    const api = standin.requests.filter((r) => r.path.startsWith('/api/v3/'));
    expect(api.length).toBeGreaterThanOrEqual(4);
    for (const r of api) {
      expect(r.headers.accept).toBe('application/vnd.github+json');
      expect(r.headers['x-github-api-version']).toBe(GITHUB_API_VERSION);
      expect(r.headers['user-agent']).toBe('kubegate');
      expect(r.headers.authorization).toMatch(/^Bearer gho_/);
      expect(r.status).toBe(200);
    }
  });

  it('applies the upstream prefixes and allow-list', async () => {
    const c = config({ username_prefix: 'github:', groups_prefix: 'gh:', group_allowlist: ['acme/s*'] });
    const { identity } = await gh.complete(c, { account: { access_token: standin.issueToken('alice') }, profile: {} }, ctx);
    expect(identity.username).toBe('github:alice');
    expect(identity.groups).toEqual(['gh:acme/security', 'gh:acme/sre']);
  });

  it('refuses a user in none of the allowed orgs (not_allowed), naming them in the detail only', async () => {
    const err = await refusal(gh.complete(config(), { account: { access_token: standin.issueToken('mallory') }, profile: {} }, ctx));
    expect(err.code).toBe('not_allowed');
    expect(err.detail).toContain('mallory');
  });

  it('refuses an org member outside the listed teams', async () => {
    const c = config({ orgs: [{ name: 'acme', teams: ['platform'] }] });
    const err = await refusal(gh.complete(c, { account: { access_token: standin.issueToken('bob') }, profile: {} }, ctx));
    expect(err.code).toBe('not_allowed');
  });

  it('a token GitHub does not accept, or none at all, is an invalid response', async () => {
    const token = standin.issueToken('alice');
    standin.revoke(token);
    expect((await refusal(gh.complete(config(), { account: { access_token: token }, profile: {} }, ctx))).code).toBe('invalid_response');
    expect((await refusal(gh.complete(config(), { account: {}, profile: {} }, ctx))).code).toBe('invalid_response');
  });

  it('GitHub down: unavailable', async () => {
    const token = standin.issueToken('alice');
    standin.fail('error');
    expect((await refusal(gh.complete(config(), { account: { access_token: token }, profile: {} }, ctx))).code).toBe('unavailable');
  });
});

describe('recheck', () => {
  it('active with fresh groups: a team removed upstream is gone from the identity', async () => {
    const token = standin.issueToken('alice');
    const before = await gh.recheck!(config(), storedUser('1001'), token, ctx);
    expect(before.status === 'active' && before.identity.groups).toContain('acme/security');

    const security = standin.teams.find((t) => t.slug === 'security');
    security!.members = [];
    const after = await gh.recheck!(config(), storedUser('1001'), token, ctx);
    expect(after).toMatchObject({ status: 'active', identity: { subject: '1001', groups: ['acme', 'acme/platform', 'acme/sre', 'widgets', 'widgets/ops'] } });
  });

  it('a renamed login keeps the same subject and brings the new username', async () => {
    const token = standin.issueToken('alice');
    const alice = standin.users.find((u) => u.id === 1001)!;
    alice.login = 'alice-l';
    for (const o of [...standin.orgs, ...standin.teams]) o.members = o.members.map((m) => (m === 'alice' ? 'alice-l' : m));
    for (const t of standin.tokens) if (t.login === 'alice') t.login = 'alice-l';
    const out = await gh.recheck!(config(), storedUser('1001'), token, ctx);
    expect(out).toMatchObject({ status: 'active', identity: { subject: '1001', username: 'alice-l' }, recheckState: token });
  });

  it('gone when the person left every allowed org', async () => {
    const token = standin.issueToken('bob');
    standin.orgs.find((o) => o.login === 'acme')!.members = ['alice'];
    const out = await gh.recheck!(config(), storedUser('1003'), token, ctx);
    expect(out.status).toBe('gone');
  });

  it('gone when the token was revoked (401)', async () => {
    const token = standin.issueToken('alice');
    standin.revoke('alice');
    expect(await gh.recheck!(config(), storedUser('1001'), token, ctx)).toEqual({ status: 'gone', reason: expect.stringContaining('refused the access token') });
  });

  it('gone when the token is someone else\'s, or there is none', async () => {
    expect((await gh.recheck!(config(), storedUser('1001'), standin.issueToken('bob'), ctx)).status).toBe('gone');
    expect((await gh.recheck!(config(), storedUser('1001'), null, ctx)).status).toBe('gone');
  });

  it('unavailable, not gone, when GitHub answers 503', async () => {
    const token = standin.issueToken('alice');
    standin.fail('error');
    expect((await gh.recheck!(config(), storedUser('1001'), token, ctx)).status).toBe('unavailable');
  });

  it('unavailable within the timeout when GitHub hangs', async () => {
    const token = standin.issueToken('alice');
    standin.fail('hang');
    const started = performance.now();
    const out = await gh.recheck!(config({ timeout: 1 }), storedUser('1001'), token, ctx);
    const elapsed = performance.now() - started;
    expect(out).toEqual({ status: 'unavailable', reason: expect.stringContaining('no answer within 1000 ms') });
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2500);
  });

  it('unavailable when nothing listens at all', async () => {
    const dead = await startGitHubStandin({ apps: [] });
    await dead.close();
    const out = await gh.recheck!(config({ base_url: dead.url }), storedUser('1001'), 'gho_x', ctx);
    expect(out).toEqual({ status: 'unavailable', reason: expect.stringContaining('could not connect') });
  });
});

describe('scopes', () => {
  it('asks for what the API calls need: profile, private email, private org and team memberships', () => {
    expect(GITHUB_SCOPES.split(' ').sort()).toEqual(['read:org', 'read:user', 'user:email']);
  });
});
