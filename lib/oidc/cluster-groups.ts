import type { ClusterConfig } from '../config/schema';

/** A cluster's group rules (lib/config/schema.ts ClusterSchema). */
export type ClusterGroupRules = Pick<ClusterConfig, 'group_mappings' | 'extra_groups'>;

/**
 * The `groups` claim of an id_token for one cluster, so a team's RBAC does
 * not depend on the IdP's group names: each of the person's groups (final
 * names: the upstream's groups_prefix already applied) is renamed by the
 * cluster's group_mappings, unlisted groups pass unchanged, then the
 * cluster's extra_groups are added; duplicates are dropped, order kept.
 * Only this cluster's tokens change: the portal and allowed_groups see the
 * person's own groups.
 */
export function clusterTokenGroups(rules: Partial<ClusterGroupRules> | undefined, groups: readonly string[]): string[] {
  const mappings = rules?.group_mappings ?? {};
  const mapped = groups.map((g) => (Object.hasOwn(mappings, g) ? mappings[g]! : g));
  return [...new Set([...mapped, ...(rules?.extra_groups ?? [])])];
}
