import { describe, expect, it } from 'vitest';
import { currentEntitlements } from './entitlements';

const upstreams = [
  { id: 'local', type: 'local' as const, username_prefix: '', groups_prefix: 'local:' },
  { id: 'corp', type: 'oidc' as const, username_prefix: 'corp:', groups_prefix: '', issuer: 'https://idp.example.com', client_id: 'k', scopes: [], username_claim: 'preferred_username', groups_claim: 'groups', allow_insecure_http: false },
];
const hash = '$2b$04$1Wl10NHjfLO8kEjRmGddveMjt0Weg3nqJHGBrSNBOUQgsdh9zCF7K';
const users = [{ username: 'ops', password_hash: hash, groups: ['admins', 'sre'] }];
const config = { upstreams, users };

describe('currentEntitlements', () => {
  it('reads a local user\'s groups from the config as it is now, with the upstream prefix', () => {
    const stored = { upstream: 'local', subject: 'ops', username: 'ops', groups: ['local:admins', 'local:sre', 'local:old-group'] };
    expect(currentEntitlements(config, stored)).toEqual({ status: 'active', username: 'ops', groups: ['local:admins', 'local:sre'] });
    const fewer = { upstreams, users: [{ ...users[0]!, groups: ['sre'] }] };
    expect(currentEntitlements(fewer, stored)).toEqual({ status: 'active', username: 'ops', groups: ['local:sre'] });
  });

  it('says a local user removed from the config is removed', () => {
    expect(currentEntitlements({ upstreams, users: [] }, { upstream: 'local', subject: 'ops', username: 'ops', groups: [] })).toEqual({
      status: 'removed',
      reason: 'user_removed',
    });
  });

  it('says every user of an upstream removed from the config is removed', () => {
    const who = { upstream: 'corp', subject: 'abc', username: 'corp:alice', groups: ['dev'] };
    expect(currentEntitlements({ upstreams: [upstreams[0]!], users }, who)).toEqual({ status: 'removed', reason: 'upstream_removed' });
  });

  it('keeps what an OIDC upstream said at sign-in (re-checked upstream in a later version)', () => {
    const who = { upstream: 'corp', subject: 'abc', username: 'corp:alice', groups: ['dev'] };
    expect(currentEntitlements(config, who)).toEqual({ status: 'active', username: 'corp:alice', groups: ['dev'] });
  });
});
