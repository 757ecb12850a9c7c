import { describe, expect, it } from 'vitest';
import { formActionOrigins, UPSTREAM_TYPES, UpstreamSchema, upstreamsOf, type ConnectorSources } from './registry';

const parse = (entries: unknown[]): ConnectorSources => ({ upstreams: entries.map((e) => UpstreamSchema.parse(e)), users: [] });

describe('upstream registry', () => {
  it('derives CSP form-action origins from the connectors, once per origin', () => {
    const sources = parse([
      { id: 'a', type: 'oidc', issuer: 'https://login.example.com/realms/corp', client_id: 'k' },
      { id: 'b', type: 'oidc', issuer: 'https://login.example.com/realms/other', client_id: 'k' },
      { id: 'local', type: 'local' },
    ]);
    expect(formActionOrigins(sources)).toEqual(['https://login.example.com']);
  });

  it('binds each upstream, in config order, to its kind’s connector and presentation', () => {
    const sources = parse([
      { id: 'corp', type: 'oidc', issuer: 'https://login.example.com', client_id: 'k', display_name: 'Corp SSO' },
      { id: 'local', type: 'local' },
    ]);
    const bound = [...upstreamsOf(sources).values()];
    expect(bound.map((b) => [b.config.id, b.connector.flow])).toEqual([
      ['corp', 'oauth'],
      ['local', 'password'],
    ]);
    expect(bound.map((b) => b.connector.presentation(b.config as never))).toEqual([
      { kind: 'button', label: 'Corp SSO' },
      { kind: 'password', label: 'a local account', usernameLabel: 'Username' },
    ]);
    expect(upstreamsOf(sources)).toBe(upstreamsOf(sources));
  });

  it('refuses an unknown kind, naming the known ones, and gives every kind the shared fields and defaults', () => {
    const unknown = UpstreamSchema.safeParse({ id: 'x', type: 'kerberos' });
    expect(unknown.success).toBe(false);
    expect(unknown.error?.issues[0]?.message).toContain(UPSTREAM_TYPES.map((t) => `"${t}"`).join(', '));
    expect(UpstreamSchema.parse({ id: 'local', type: 'local' })).toMatchObject({ recheck_interval: 300, recheck_grace: 900, username_prefix: '', groups_prefix: '' });
    expect(UpstreamSchema.safeParse({ id: 'local', type: 'local', group_allowlist: ['dev*', ''] }).success).toBe(false);
  });
});
