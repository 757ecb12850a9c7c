import { describe, expect, it } from 'vitest';
import { UpstreamRefusal, type ConnectorContext } from '../types';
import { amrFromClaims } from './identity';
import { oidcConnector, OidcUpstreamSchema, type OidcUpstreamConfig } from './index';

/**
 * The mapping rules that need no network (the groups are in the id_token, or
 * the answer is refused before any call). Userinfo, Graph and refresh run
 * against a real provider in against-oidc-provider.test.ts.
 */
const upstream = (o: Record<string, unknown> = {}): OidcUpstreamConfig =>
  OidcUpstreamSchema.parse({ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', client_id: 'kubegate', groups_source: 'id_token', ...o });

const ctx: ConnectorContext = { now: () => 1_700_000_000_000, log: { debug() {}, info() {}, warn() {}, error() {} } };
const complete = (u: OidcUpstreamConfig, profile: Record<string, unknown>, account: Record<string, unknown> = {}) => oidcConnector.complete(u, { account, profile }, ctx);
const identity = async (u: OidcUpstreamConfig, profile: Record<string, unknown>) => (await complete(u, profile)).identity;

describe('OIDC connector: complete', () => {
  it('maps sub, the username claim, groups, email and name', async () => {
    expect(await identity(upstream(), { sub: 'u-1', preferred_username: 'alice', groups: ['dev', 'ops'], email: 'a@x.io', name: 'Alice' })).toEqual({
      upstream: 'corp',
      subject: 'u-1',
      username: 'alice',
      email: 'a@x.io',
      name: 'Alice',
      groups: ['dev', 'ops'],
    });
  });

  it('uses the configured claim paths and prefixes, and drops empty and repeated groups', async () => {
    const u = upstream({ username_claim: 'email', groups_claim: 'realm_access.roles', username_prefix: 'corp:', groups_prefix: 'corp:' });
    expect(await identity(u, { sub: 's', email: 'bob@x.io', realm_access: { roles: ['a', '', 'a', 'b'] } })).toMatchObject({
      username: 'corp:bob@x.io',
      groups: ['corp:a', 'corp:b'],
    });
    const ns = upstream({ groups_claim: 'https://example.com/groups' });
    expect((await identity(ns, { sub: 's', preferred_username: 'a', 'https://example.com/groups': 'dev' })).groups).toEqual(['dev']);
  });

  it('filters by the allow-list before prefixing', async () => {
    const u = upstream({ group_allowlist: ['k8s-*', 'admins'], groups_prefix: 'oidc:' });
    expect((await identity(u, { sub: 's', preferred_username: 'a', groups: ['k8s-dev', 'admins', 'admins-2', 'hr'] })).groups).toEqual(['oidc:k8s-dev', 'oidc:admins']);
  });

  it('accepts a single group given as a string, and no groups at all', async () => {
    expect((await identity(upstream(), { sub: 's', preferred_username: 'a', groups: 'dev' })).groups).toEqual(['dev']);
    expect((await identity(upstream(), { sub: 's', preferred_username: 'a' })).groups).toEqual([]);
    expect((await identity(upstream(), { sub: 's', preferred_username: 'a', groups: null })).groups).toEqual([]);
  });

  it.each([
    ['no sub', { preferred_username: 'a' }, 'claims', 'the upstream sent no subject (sub)'],
    ['an empty sub', { sub: '', preferred_username: 'a' }, 'claims', 'the upstream sent no subject (sub)'],
    ['no username claim', { sub: 's' }, 'claims', 'the upstream sent no "preferred_username" claim to use as the username'],
    ['a blank username', { sub: 's', preferred_username: '  ' }, 'claims', 'the "preferred_username" claim must be a non-empty string to be the username (got a string)'],
    ['a numeric username', { sub: 's', preferred_username: 42 }, 'claims', 'the "preferred_username" claim must be a non-empty string to be the username (got a number)'],
    ['groups as an object', { sub: 's', preferred_username: 'a', groups: { admin: true } }, 'claims', 'the "groups" claim must be a string or a list of strings (got an object)'],
    ['groups with a number', { sub: 's', preferred_username: 'a', groups: ['a', 1] }, 'claims', 'the "groups" claim must be a string or a list of strings (item 2 is a number)'],
  ])('refuses %s, naming the claim', async (_, claims, code, detail) => {
    await expect(complete(upstream(), claims)).rejects.toEqual(new UpstreamRefusal(code as 'claims', detail));
  });

  it('refuses who misses a required claim, as not_allowed, before any call upstream', async () => {
    const u = upstream({ required_claims: { email_verified: true, hd: 'example.com' } });
    await expect(complete(u, { sub: 's', preferred_username: 'a', email_verified: true, hd: 'example.com' })).resolves.toBeDefined();
    await expect(complete(u, { sub: 's', preferred_username: 'a', email_verified: 'true', hd: 'example.com' })).rejects.toMatchObject({
      code: 'not_allowed',
      detail: 'required claim "email_verified" does not have an accepted value',
    });
    await expect(complete(u, { sub: 's', preferred_username: 'a', email_verified: true })).rejects.toMatchObject({ code: 'not_allowed', detail: 'required claim "hd" is missing' });
  });

  it('refuses an Entra ID group overage it was not told to resolve, in every groups_source but userinfo', async () => {
    const overage = { sub: 's', preferred_username: 'a', _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.windows.net/x' } } };
    for (const groups_source of ['id_token', 'auto']) {
      await expect(complete(upstream({ groups_source }), overage)).rejects.toMatchObject({ code: 'claims', detail: expect.stringMatching(/^too many groups for the token/) });
    }
    await expect(complete(upstream(), { sub: 's', preferred_username: 'a', hasgroups: true })).rejects.toMatchObject({ code: 'claims' });
    // With Graph configured but no access token to call it with: refused, not empty.
    await expect(complete(upstream({ entra_overage: {} }), overage)).rejects.toMatchObject({ code: 'claims', detail: expect.stringMatching(/no access token/) });
  });

  it('keeps the upstream refresh token as the re-check state, and the authentication facts', async () => {
    const signIn = await complete(
      upstream(),
      { sub: 's', preferred_username: 'a', amr: ['pwd', 'otp'], acr: 'urn:mfa', auth_time: 1_700_000_000 },
      { access_token: 'at', refresh_token: 'rt-1' },
    );
    expect(signIn).toMatchObject({ amr: ['pwd', 'otp'], acr: 'urn:mfa', authTime: 1_700_000_000_000, recheckState: 'rt-1' });
    expect((await complete(upstream(), { sub: 's', preferred_username: 'a' }, { access_token: 'at' })).recheckState).toBeNull();
  });
});

describe('OIDC connector: presentation and provider', () => {
  it('asks for openid, profile, email and the configured scopes, once each', () => {
    const p = oidcConnector.provider(upstream({ scopes: ['groups', 'offline_access', 'email'], client_secret: 's' }));
    expect(p).toMatchObject({ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', checks: ['pkce', 'state', 'nonce'] });
    expect((p.authorization as { params: { scope: string } }).params.scope).toBe('openid profile email groups offline_access');
  });

  it('authenticates at the token endpoint as configured; a public client with none', () => {
    expect(oidcConnector.provider(upstream({ client_secret: 's' })).client).toEqual({ token_endpoint_auth_method: 'client_secret_basic' });
    expect(oidcConnector.provider(upstream({ client_secret: 's', token_endpoint_auth_method: 'client_secret_post' })).client).toEqual({
      token_endpoint_auth_method: 'client_secret_post',
    });
    expect(oidcConnector.provider(upstream()).client).toEqual({ token_endpoint_auth_method: 'none' });
  });

  it('lets forms post to the issuer origin only', () => {
    expect(oidcConnector.formActionOrigins(upstream({ issuer: 'https://login.example.com/realms/corp' }))).toEqual(['https://login.example.com']);
  });
});

describe('amrFromClaims', () => {
  it('keeps string entries of an amr list, at most ten, and nothing else', () => {
    expect(amrFromClaims({ amr: ['pwd', 'mfa', 3, null] })).toEqual(['pwd', 'mfa']);
    expect(amrFromClaims({ amr: 'pwd' })).toEqual([]);
    expect(amrFromClaims({})).toEqual([]);
    expect(amrFromClaims({ amr: Array.from({ length: 20 }, (_, i) => `m${i}`) })).toHaveLength(10);
  });
});
