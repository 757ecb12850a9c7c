import type { ResolvedCluster } from './config/load';

/** A cluster is visible to a user whose groups meet its allowed_groups (none listed: everyone). */
export function mayUseCluster(cluster: Pick<ResolvedCluster, 'allowed_groups'>, groups: readonly string[]): boolean {
  return cluster.allowed_groups.length === 0 || cluster.allowed_groups.some((g) => groups.includes(g));
}

export function clustersFor<C extends Pick<ResolvedCluster, 'allowed_groups'>>(clusters: Iterable<C>, groups: readonly string[]): C[] {
  return [...clusters].filter((c) => mayUseCluster(c, groups));
}
