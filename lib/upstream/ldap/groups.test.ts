import { AndFilter, EqualityFilter, ExtensibleFilter, type Filter, OrFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { type GroupRef, type GroupSearch, IN_CHAIN_RULE, resolveGroups, walkGroups } from './groups';
import type { LdapEntry } from './identity';
import { LdapGroupSearchSchema } from './schema';

const ref = (name: string): GroupRef => ({ dn: `cn=${name},ou=groups,dc=x`, name });

/** parents as a map: group name → the groups it is a member of. */
function parentsFrom(graph: Record<string, string[]>) {
  const calls: string[][] = [];
  const parents = async (level: GroupRef[]) => {
    calls.push(level.map((r) => r.name));
    return level.flatMap((r) => (graph[r.name] ?? []).map(ref));
  };
  return { parents, calls };
}

describe('walkGroups', () => {
  it('collects every ancestor, breadth first, one round per level', async () => {
    const { parents, calls } = parentsFrom({ dev: ['platform'], platform: ['engineering'], ops: ['platform'] });
    const r = await walkGroups([ref('dev'), ref('ops')], parents, 8);
    expect(r.groups.map((g) => g.name)).toEqual(['dev', 'ops', 'platform', 'engineering']);
    expect(calls).toEqual([['dev', 'ops'], ['platform'], ['engineering']]);
    expect(r.truncated).toBe(false);
  });

  it('ends on a cycle, asking about each group once', async () => {
    const { parents, calls } = parentsFrom({ a: ['b'], b: ['a', 'c'], c: ['a'] });
    const r = await walkGroups([ref('a')], parents, 20);
    expect(r.groups.map((g) => g.name)).toEqual(['a', 'b', 'c']);
    expect(calls.flat()).toEqual(['a', 'b', 'c']);
  });

  it('treats DNs that differ only in case and spacing as one group', async () => {
    const parents = async () => [{ dn: 'CN=A, OU=Groups,DC=x', name: 'A' }];
    const r = await walkGroups([ref('a')], parents, 5);
    expect(r.groups).toHaveLength(1);
  });

  it('stops at max_depth and says so', async () => {
    const chain = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`g${i}`, [`g${i + 1}`]]));
    const { parents, calls } = parentsFrom(chain);
    const r = await walkGroups([ref('g0')], parents, 3);
    expect(r.groups.map((g) => g.name)).toEqual(['g0', 'g1', 'g2', 'g3']);
    expect(calls).toHaveLength(3);
    expect(r.truncated).toBe(true);
  });

  it('stops at the group cap', async () => {
    const parents = async (level: GroupRef[]) => level.flatMap((r) => [ref(r.name + 'a'), ref(r.name + 'b')]);
    const r = await walkGroups([ref('x')], parents, 20, 10);
    expect(r.groups).toHaveLength(10);
    expect(r.truncated).toBe(true);
  });
});

describe('resolveGroups: the searches each mode sends', () => {
  const user = { dn: 'uid=a*)(uid=*,ou=people,dc=x', username: 'alice', entry: { dn: 'uid=alice', memberOf: ['cn=dev,ou=groups,dc=x', 'cn=mail-list,ou=lists,dc=x'] } as LdapEntry };
  function recorder(answers: LdapEntry[][] = []) {
    const seen: { base: string; filter: Filter; scope: string }[] = [];
    const search: GroupSearch = async (base, opts) => {
      seen.push({ base, filter: opts.filter, scope: opts.scope });
      return answers.shift() ?? [];
    };
    return { seen, search };
  }
  const g = (over: Record<string, unknown>) => LdapGroupSearchSchema.parse({ base_dn: 'ou=groups,dc=x', ...over });

  it('member: the user DN goes in as a value, never as filter text', async () => {
    const { seen, search } = recorder([[{ dn: 'cn=dev,ou=groups,dc=x', cn: 'dev' } as LdapEntry]]);
    const r = await resolveGroups(g({ filter: '(objectClass=groupOfNames)' }), user, search);
    expect(r.groups).toEqual([{ dn: 'cn=dev,ou=groups,dc=x', name: 'dev' }]);
    const f = seen[0]!.filter as AndFilter;
    const eq = f.filters[1] as EqualityFilter;
    expect(eq).toBeInstanceOf(EqualityFilter);
    expect([eq.attribute, eq.value]).toEqual(['member', user.dn]);
    expect(seen[0]!.base).toBe('ou=groups,dc=x');
  });

  it('member, nested: one OR search per level with the previous level’s DNs', async () => {
    const { seen, search } = recorder([
      [{ dn: 'cn=dev,ou=groups,dc=x', cn: 'dev' } as LdapEntry, { dn: 'cn=ops,ou=groups,dc=x', cn: 'ops' } as LdapEntry],
      [{ dn: 'cn=platform,ou=groups,dc=x', cn: 'platform' } as LdapEntry],
    ]);
    const r = await resolveGroups(g({ nested: true, member_attribute: 'uniqueMember' }), user, search);
    expect(r.groups.map((x) => x.name)).toEqual(['dev', 'ops', 'platform']);
    const or = (seen[1]!.filter as AndFilter).filters[1] as OrFilter;
    expect(or.filters.map((e) => [(e as EqualityFilter).attribute, (e as EqualityFilter).value])).toEqual([
      ['uniqueMember', 'cn=dev,ou=groups,dc=x'],
      ['uniqueMember', 'cn=ops,ou=groups,dc=x'],
    ]);
    expect(seen).toHaveLength(3);
  });

  it('member_uid: the username', async () => {
    const { seen, search } = recorder();
    await resolveGroups(g({ mode: 'member_uid' }), user, search);
    const eq = (seen[0]!.filter as AndFilter).filters[1] as EqualityFilter;
    expect([eq.attribute, eq.value]).toEqual(['memberUid', 'alice']);
  });

  it('ad_in_chain: one search with LDAP_MATCHING_RULE_IN_CHAIN on member', async () => {
    const { seen, search } = recorder([[{ dn: 'CN=Nested,OU=G,DC=x', cn: 'Nested' } as LdapEntry]]);
    const r = await resolveGroups(g({ mode: 'ad_in_chain', filter: '(objectClass=group)' }), user, search);
    expect(r.groups.map((x) => x.name)).toEqual(['Nested']);
    const ext = (seen[0]!.filter as AndFilter).filters[1] as ExtensibleFilter;
    expect([ext.matchType, ext.rule, ext.value]).toEqual(['member', IN_CHAIN_RULE, user.dn]);
    expect(ext.toString()).toBe('(member:1.2.840.113556.1.4.1941:=uid=a\\2a\\29\\28uid=\\2a,ou=people,dc=x)');
    expect(seen).toHaveLength(1);
  });

  it('member_of: names from the DNs, limited to base_dn when given, no search without nesting', async () => {
    const { seen, search } = recorder();
    const limited = await resolveGroups(g({ mode: 'member_of' }), user, search);
    expect(limited.groups.map((x) => x.name)).toEqual(['dev']);
    const all = await resolveGroups(LdapGroupSearchSchema.parse({ mode: 'member_of' }), user, search);
    expect(all.groups.map((x) => x.name)).toEqual(['dev', 'mail-list']);
    expect(seen).toHaveLength(0);
  });

  it('member_of, nested: reads each new group’s own memberOf', async () => {
    const { seen, search } = recorder([[{ dn: 'cn=dev,ou=groups,dc=x', memberOf: 'cn=platform,ou=groups,dc=x' } as LdapEntry], []]);
    const r = await resolveGroups(g({ mode: 'member_of', nested: true }), user, search);
    expect(r.groups.map((x) => x.name)).toEqual(['dev', 'platform']);
    expect(seen.map((s) => [s.base, s.scope])).toEqual([
      ['cn=dev,ou=groups,dc=x', 'base'],
      ['cn=platform,ou=groups,dc=x', 'base'],
    ]);
  });
});
