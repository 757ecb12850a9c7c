import { describe, expect, it } from 'vitest';
import type { User } from '../store/types';
import type { RecheckSettings, RecheckVerdict } from '../upstream/recheck';
import { currentEntitlements, entitledUser, type EntitlementChecks } from './entitlements';

const upstreams = [
  { id: 'local', type: 'local' as const, username_prefix: '', groups_prefix: 'local:' },
  { id: 'corp', type: 'oidc' as const, username_prefix: 'corp:', groups_prefix: '', issuer: 'https://idp.example.com', client_id: 'k', scopes: [], username_claim: 'preferred_username', groups_claim: 'groups', allow_insecure_http: false },
];
const hash = '$2b$04$1Wl10NHjfLO8kEjRmGddveMjt0Weg3nqJHGBrSNBOUQgsdh9zCF7K';
const users = [{ username: 'ops', password_hash: hash, groups: ['admins', 'sre'] }];
const config = { upstreams, users };

const person = (over: Partial<User>): User => ({
  id: 'u1',
  upstream: 'local',
  subject: 'ops',
  username: 'ops',
  email: null,
  name: null,
  groups: [],
  created_at: 0,
  updated_at: 0,
  checked_at: 0,
  check_failing_since: null,
  ...over,
});
const ALICE = person({ upstream: 'corp', subject: 'abc', username: 'corp:alice', groups: ['dev'] });

/** A rechecker that answers `verdict` and records what it was asked. */
function checks(verdict: RecheckVerdict): EntitlementChecks & { asked: Array<{ upstream: string; user: string }> } {
  const asked: Array<{ upstream: string; user: string }> = [];
  return {
    asked,
    rechecker: {
      check: (upstream: RecheckSettings, user: User) => {
        asked.push({ upstream: upstream.id, user: user.id });
        return Promise.resolve(verdict);
      },
    },
  };
}

describe('currentEntitlements', () => {
  it("reads a local user's groups from the config as it is now, with the upstream prefix", async () => {
    const stored = person({ groups: ['local:admins', 'local:sre', 'local:old-group'] });
    expect(await currentEntitlements(config, stored)).toEqual({ status: 'active', username: 'ops', groups: ['local:admins', 'local:sre'] });
    const fewer = { upstreams, users: [{ ...users[0]!, groups: ['sre'] }] };
    expect(await currentEntitlements(fewer, stored)).toEqual({ status: 'active', username: 'ops', groups: ['local:sre'] });
  });

  it('never asks the re-check engine about a local user: the config is their source', async () => {
    const c = checks({ status: 'gone', reason: 'x' });
    expect((await currentEntitlements(config, person({}), c)).status).toBe('active');
    expect(c.asked).toEqual([]);
  });

  it('says a local user removed from the config is removed', async () => {
    expect(await currentEntitlements({ upstreams, users: [] }, person({}))).toEqual({ status: 'removed', reason: 'user_removed' });
  });

  it('says every user of an upstream removed from the config is removed, without asking anyone', async () => {
    const c = checks({ status: 'active', user: ALICE });
    expect(await currentEntitlements({ upstreams: [upstreams[0]!], users }, ALICE, c)).toEqual({ status: 'removed', reason: 'upstream_removed' });
    expect(c.asked).toEqual([]);
  });

  it('keeps what an upstream said when no re-check engine is given', async () => {
    expect(await currentEntitlements(config, ALICE)).toEqual({ status: 'active', username: 'corp:alice', groups: ['dev'] });
  });

  it("goes through the re-check engine for an upstream user and uses its verdict", async () => {
    const fresh = { ...ALICE, username: 'corp:alice2', groups: ['sre'], email: 'a@example.com', name: 'Alice' };
    const active = checks({ status: 'active', user: fresh });
    const current = await currentEntitlements(config, ALICE, active);
    expect(current).toEqual({ status: 'active', username: 'corp:alice2', groups: ['sre'], email: 'a@example.com', name: 'Alice' });
    expect(active.asked).toEqual([{ upstream: 'corp', user: 'u1' }]);
    expect(entitledUser(ALICE, current as Extract<typeof current, { status: 'active' }>)).toEqual(fresh);

    expect(await currentEntitlements(config, ALICE, checks({ status: 'gone', reason: 'disabled' }))).toEqual({ status: 'removed', reason: 'upstream_gone' });
    expect(await currentEntitlements(config, ALICE, checks({ status: 'unavailable', reason: 'down' }))).toEqual({
      status: 'unavailable',
      reason: 'upstream_unavailable',
    });
  });
});
