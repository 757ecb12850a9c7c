import { describe, expect, it } from 'vitest';
import { UpstreamRefusal } from '../types';
import { amrFromClaims, identityFromClaims, OidcUpstreamSchema, type OidcUpstreamConfig } from './index';

const upstream = (o: Partial<OidcUpstreamConfig> = {}): OidcUpstreamConfig =>
  OidcUpstreamSchema.parse({ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', client_id: 'kubegate', ...o });

describe('OIDC upstream: identityFromClaims', () => {
  it('maps sub, the username claim, groups, email and name', () => {
    expect(
      identityFromClaims(upstream(), { sub: 'u-1', preferred_username: 'alice', groups: ['dev', 'ops'], email: 'a@x.io', name: 'Alice' }),
    ).toEqual({ upstream: 'corp', subject: 'u-1', username: 'alice', email: 'a@x.io', name: 'Alice', groups: ['dev', 'ops'] });
  });

  it('uses the configured claims and prefixes, and drops empty and repeated groups', () => {
    const u = upstream({ username_claim: 'email', groups_claim: 'roles', username_prefix: 'corp:', groups_prefix: 'corp:' });
    expect(identityFromClaims(u, { sub: 's', email: 'bob@x.io', roles: ['a', '', 'a', 'b'] })).toMatchObject({
      username: 'corp:bob@x.io',
      groups: ['corp:a', 'corp:b'],
    });
  });

  it('accepts a single group given as a string, and no groups at all', () => {
    expect(identityFromClaims(upstream(), { sub: 's', preferred_username: 'a', groups: 'dev' }).groups).toEqual(['dev']);
    expect(identityFromClaims(upstream(), { sub: 's', preferred_username: 'a' }).groups).toEqual([]);
    expect(identityFromClaims(upstream(), { sub: 's', preferred_username: 'a', groups: null }).groups).toEqual([]);
  });

  it.each([
    ['no sub', { preferred_username: 'a' }, 'no subject'],
    ['an empty sub', { sub: '', preferred_username: 'a' }, 'no subject'],
    ['no username claim', { sub: 's' }, 'no "preferred_username" claim'],
    ['a blank username', { sub: 's', preferred_username: '  ' }, 'no "preferred_username" claim'],
    ['a numeric username', { sub: 's', preferred_username: 42 }, 'no "preferred_username" claim'],
    ['groups as an object', { sub: 's', preferred_username: 'a', groups: { admin: true } }, 'neither a string nor a list'],
    ['groups with a number', { sub: 's', preferred_username: 'a', groups: ['a', 1] }, 'neither a string nor a list'],
  ])('refuses %s with a message for the platform team', (_, claims, message) => {
    expect(() => identityFromClaims(upstream(), claims)).toThrow(UpstreamRefusal);
    expect(() => identityFromClaims(upstream(), claims)).toThrow(message);
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
