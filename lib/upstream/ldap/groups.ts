import { EqualityFilter, ExtensibleFilter, type Filter, OrFilter } from 'ldapts';
import { and, firstRdnValue, isUnderDn, normalizeDn, parseFilter } from './filter';
import { firstText, type LdapEntry, values } from './identity';
import { memberAttribute, type LdapGroupSearch } from './schema';

/** LDAP_MATCHING_RULE_IN_CHAIN: Active Directory walks `member` transitively (MS-ADTS §3.1.1.3.4.4.1). */
export const IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';

/** Most groups one walk collects; a directory with more is cut off there (and says so in the log). */
export const MAX_GROUPS = 1000;
/** Values per OR in one level's search. */
const OR_CHUNK = 100;

export interface GroupRef {
  dn: string;
  name: string;
}

export type GroupSearch = (base: string, opts: { scope: 'base' | 'one' | 'sub'; filter: Filter; attributes: string[] }) => Promise<LdapEntry[]>;

export interface WalkResult {
  groups: GroupRef[];
  /** True when max_depth or MAX_GROUPS stopped the walk with parents still unvisited. */
  truncated: boolean;
}

/**
 * Breadth-first walk up from the groups a person is directly in: each round
 * asks for the parents of the previous round's new groups. A group seen
 * before (by normalized DN) is not asked about again, so a cycle (A in B in
 * A) ends the walk instead of looping; `maxDepth` rounds of parents at most.
 */
export async function walkGroups(
  direct: GroupRef[],
  parents: (level: GroupRef[]) => Promise<GroupRef[]>,
  maxDepth: number,
  maxGroups = MAX_GROUPS,
): Promise<WalkResult> {
  const seen = new Map<string, GroupRef>();
  const admit = (refs: GroupRef[]): GroupRef[] => {
    const fresh: GroupRef[] = [];
    for (const ref of refs) {
      const key = normalizeDn(ref.dn);
      if (seen.has(key) || seen.size >= maxGroups) continue;
      seen.set(key, ref);
      fresh.push(ref);
    }
    return fresh;
  };
  let level = admit(direct);
  let truncated = seen.size >= maxGroups && direct.length > seen.size;
  for (let depth = 0; level.length > 0; depth++) {
    if (depth >= maxDepth || seen.size >= maxGroups) {
      truncated = true;
      break;
    }
    level = admit(await parents(level));
  }
  return { groups: [...seen.values()], truncated };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function refsFrom(entries: LdapEntry[], nameAttr: string): GroupRef[] {
  return entries.map((e) => ({ dn: e.dn, name: firstText(e, nameAttr) ?? firstRdnValue(e.dn) ?? e.dn }));
}

/**
 * The person's groups, by the configured mode. Every value from the user or
 * the directory goes into a filter object (never a filter string), so a
 * group named `x*)(cn=*` is one group, not a wildcard.
 */
export async function resolveGroups(
  g: LdapGroupSearch,
  user: { dn: string; entry: LdapEntry; username: string },
  search: GroupSearch,
): Promise<WalkResult> {
  const attr = memberAttribute(g);
  const base = g.base_dn ?? '';
  const groupFilter = parseFilter(g.filter);
  const attributes = [g.name_attribute];
  const byMember = async (memberValues: string[]): Promise<GroupRef[]> => {
    const out: GroupRef[] = [];
    for (const part of chunks(memberValues, OR_CHUNK)) {
      const match = part.length === 1 ? new EqualityFilter({ attribute: attr, value: part[0]! }) : new OrFilter({ filters: part.map((v) => new EqualityFilter({ attribute: attr, value: v })) });
      out.push(...refsFrom(await search(base, { scope: g.scope, filter: and(groupFilter, match), attributes }), g.name_attribute));
    }
    return out;
  };

  switch (g.mode) {
    case 'member': {
      const direct = await byMember([user.dn]);
      if (!g.nested) return { groups: direct, truncated: false };
      return walkGroups(direct, (level) => byMember(level.map((r) => r.dn)), g.max_depth);
    }
    case 'member_uid':
      return { groups: await byMember([user.username]), truncated: false };
    case 'ad_in_chain': {
      const inChain = new ExtensibleFilter({ matchType: attr, rule: IN_CHAIN_RULE, value: user.dn });
      return { groups: refsFrom(await search(base, { scope: g.scope, filter: and(groupFilter, inChain), attributes }), g.name_attribute), truncated: false };
    }
    case 'member_of': {
      const within = (dn: string) => g.base_dn === undefined || isUnderDn(dn, g.base_dn);
      const toRefs = (dns: (string | Buffer)[]) =>
        dns
          .map((v) => (typeof v === 'string' ? v : v.toString('utf8')))
          .filter(within)
          .map((dn) => ({ dn, name: firstRdnValue(dn) ?? dn }));
      const direct = toRefs(values(user.entry, attr));
      if (!g.nested) return { groups: direct, truncated: false };
      return walkGroups(
        direct,
        async (level) => {
          const out: GroupRef[] = [];
          for (const ref of level) {
            const [entry] = await search(ref.dn, { scope: 'base', filter: groupFilter, attributes: [attr] });
            if (entry) out.push(...toRefs(values(entry, attr)));
          }
          return out;
        },
        g.max_depth,
      );
    }
  }
}
