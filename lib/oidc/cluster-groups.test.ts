import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, bodyOf, ENDPOINT_CONFIG_YAML, openTestEnv, parseTestConfig, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { ConfigError } from '../config/load';
import { clusterTokenGroups } from './cluster-groups';

describe('clusterTokenGroups', () => {
  it.each([
    ['no rules: the groups as they are', undefined, ['ops', 'dev'], ['ops', 'dev']],
    ['empty rules', { group_mappings: {}, extra_groups: [] }, ['ops', 'dev'], ['ops', 'dev']],
    ['a mapped group is renamed, an unlisted one passes', { group_mappings: { 'corp:k8s-ops': 'cluster-admins' } }, ['corp:k8s-ops', 'corp:dev'], ['cluster-admins', 'corp:dev']],
    ['extra groups come after, for everyone', { extra_groups: ['team-a', 'viewers'] }, ['ops'], ['ops', 'team-a', 'viewers']],
    ['extra groups even with no groups of their own', { extra_groups: ['viewers'] }, [], ['viewers']],
    ['two groups mapped to one name appear once', { group_mappings: { a: 'x', b: 'x' } }, ['a', 'b', 'c'], ['x', 'c']],
    ['an extra group the person already has appears once', { group_mappings: { a: 'viewers' }, extra_groups: ['viewers'] }, ['a'], ['viewers']],
    ['names are matched exactly (no prefix match, case kept)', { group_mappings: { ops: 'admins' } }, ['ops2', 'OPS', 'ops'], ['ops2', 'OPS', 'admins']],
    ['a mapping is not a chain', { group_mappings: { a: 'b', b: 'c' } }, ['a'], ['b']],
    ['object-prototype names are groups like any other', { group_mappings: {} }, ['constructor', '__proto__', 'toString'], ['constructor', '__proto__', 'toString']],
  ])('%s', (_what, rules, groups, expected) => {
    expect(clusterTokenGroups(rules, groups)).toEqual(expected);
  });
});

describe('cluster group settings in the config', () => {
  const withProd = (extra: string) => ENDPOINT_CONFIG_YAML.replace('    allowed_groups: [ops]\n', `    allowed_groups: [ops]\n${extra}`);

  it('default to no mappings and no extra groups', () => {
    expect(parseTestConfig().clusters[0]).toMatchObject({ group_mappings: {}, extra_groups: [] });
  });

  it('are read per cluster', () => {
    const config = parseTestConfig(withProd('    group_mappings:\n      ops: prod-admins\n    extra_groups: [prod-users]\n'));
    expect(config.clusters[0]).toMatchObject({ group_mappings: { ops: 'prod-admins' }, extra_groups: ['prod-users'] });
    expect(config.clusters[1]).toMatchObject({ group_mappings: {}, extra_groups: [] });
  });

  it('name every bad value by its path, all at once', () => {
    const problems = (() => {
      try {
        parseTestConfig(withProd('    group_mappings:\n      ops: ""\n      dev: [a]\n    extra_groups: ["", "a\\nb", 3]\n'));
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems.join('\n');
      }
      throw new Error('expected a ConfigError');
    })();
    expect(problems).toMatch(/clusters\[0\]\.group_mappings\.ops/);
    expect(problems).toMatch(/clusters\[0\]\.group_mappings\.dev/);
    expect(problems).toMatch(/clusters\[0\]\.extra_groups\[0\]/);
    expect(problems).toMatch(/clusters\[0\]\.extra_groups\[1\]/);
    expect(problems).toMatch(/clusters\[0\]\.extra_groups\[2\]/);
  });
});

describe('tokens carry the cluster\'s group names', () => {
  let env: TestEnv;
  afterEach(async () => {
    await env.close();
  });

  it('when minted and at every refresh, for that cluster only; allowed_groups is checked on the person\'s own groups', async () => {
    // alice (local) has ops and dev; prod is for ops only, and calls ops "prod-admins" in its RBAC.
    const yaml = ENDPOINT_CONFIG_YAML.replace('    allowed_groups: [ops]\n', '    allowed_groups: [ops]\n    group_mappings:\n      ops: prod-admins\n    extra_groups: [prod-users]\n');
    env = await openTestEnv({ yaml });
    const s = await env.signIn(ALICE);
    const prod = await env.mint('prod', s);
    expect(decodeJwt(prod.idToken).groups).toEqual(['prod-admins', 'dev', 'prod-users']);
    const refreshed = bodyOf<TokenSuccess>(await env.refresh(prod.refreshToken));
    expect(decodeJwt(refreshed.id_token).groups).toEqual(['prod-admins', 'dev', 'prod-users']);
    const staging = await env.mint('staging', s);
    expect(decodeJwt(staging.idToken).groups).toEqual(['ops', 'dev']);
    // The person's own groups are unchanged (the portal shows these).
    expect((await env.store.getUser(s.user.id))!.groups).toEqual(['ops', 'dev']);
  });
});
