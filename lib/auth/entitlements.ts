import type { ResolvedConfig } from '../config/load';
import type { User } from '../store/types';
import { localIdentity } from '../upstream/local';

/**
 * What a person may have right now, read from their identity's source, not
 * from what was recorded at sign-in: a refresh and every portal page ask
 * again, so offboarding through the config (a removed user, a removed group)
 * bites at the next refresh or page, not at session end.
 */
export type Entitlements =
  | { status: 'active'; username: string; groups: string[] }
  | { status: 'removed'; reason: 'upstream_removed' | 'user_removed' };

type Sources = {
  upstreams: readonly (Pick<ResolvedConfig['upstreams'][number], 'id' | 'type' | 'username_prefix' | 'groups_prefix'> & { group_allowlist?: string[] })[];
  users: ResolvedConfig['users'];
};
const indexes = new WeakMap<Sources, { upstreams: Map<string, Sources['upstreams'][number]>; users: Map<string, Sources['users'][number]> }>();

/** Upstreams by id and local users by name, built once per config: this runs on every refresh. */
function indexOf(config: Sources) {
  let index = indexes.get(config);
  if (!index) {
    index = { upstreams: new Map(config.upstreams.map((u) => [u.id, u])), users: new Map(config.users.map((u) => [u.username, u])) };
    indexes.set(config, index);
  }
  return index;
}

/**
 * Local users: the config's users list is the source. Upstream users (OIDC):
 * the groups recorded at sign-in stay until the upstream re-check lands
 * (issue: upstream connectors); an upstream removed from the config ends
 * every session it started.
 */
export function currentEntitlements(config: Sources, user: Pick<User, 'upstream' | 'subject' | 'username' | 'groups'>): Entitlements {
  const { upstreams, users } = indexOf(config);
  const upstream = upstreams.get(user.upstream);
  if (!upstream) return { status: 'removed', reason: 'upstream_removed' };
  if (upstream.type === 'local') {
    const local = users.get(user.subject);
    if (!local) return { status: 'removed', reason: 'user_removed' };
    const profile = localIdentity(upstream, local);
    return { status: 'active', username: profile.username, groups: profile.groups };
  }
  return { status: 'active', username: user.username, groups: user.groups };
}
