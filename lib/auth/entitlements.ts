import type { ResolvedConfig } from '../config/load';
import type { User } from '../store/types';
import { identityFromLocalUser } from './identity';

/**
 * What a person may have right now, read from their identity's source, not
 * from what was recorded at sign-in: a refresh and every portal page ask
 * again, so offboarding through the config (a removed user, a removed group)
 * bites at the next refresh or page, not at session end.
 */
export type Entitlements =
  | { status: 'active'; username: string; groups: string[] }
  | { status: 'removed'; reason: 'upstream_removed' | 'user_removed' };

/**
 * Local users: the config's users list is the source. Upstream users (OIDC):
 * the groups recorded at sign-in stay until the upstream re-check lands
 * (issue: upstream connectors); an upstream removed from the config ends
 * every session it started.
 */
export function currentEntitlements(config: Pick<ResolvedConfig, 'upstreams' | 'users'>, user: Pick<User, 'upstream' | 'subject' | 'username' | 'groups'>): Entitlements {
  const upstream = config.upstreams.find((u) => u.id === user.upstream);
  if (!upstream) return { status: 'removed', reason: 'upstream_removed' };
  if (upstream.type === 'local') {
    const local = config.users.find((u) => u.username === user.subject);
    if (!local) return { status: 'removed', reason: 'user_removed' };
    const profile = identityFromLocalUser(upstream, local);
    return { status: 'active', username: profile.username, groups: profile.groups };
  }
  return { status: 'active', username: user.username, groups: user.groups };
}
