import type { ResolvedConfig } from '../config/load';
import type { User } from '../store/types';
import type { RecheckRequest, Rechecker } from '../upstream/recheck';
import { localIdentity } from '../upstream/local';

/**
 * What a person may have right now, read from their identity's source, not
 * from what was recorded at sign-in: a refresh and every portal page ask
 * again, so offboarding (a removed user, a removed group, in the config or
 * upstream) bites at the next refresh or page, not at session end.
 */
export type Entitlements =
  | { status: 'active'; username: string; groups: string[]; email?: string | null; name?: string | null }
  /** Gone from their source: everything of theirs is (to be) revoked as 'offboarded'. */
  | { status: 'removed'; reason: 'upstream_removed' | 'user_removed' | 'upstream_gone' }
  /** The upstream has not answered for longer than its grace: refuse, revoke nothing. */
  | { status: 'unavailable'; reason: 'upstream_unavailable' };

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

/** How upstream people are re-checked: the process's engine, and who is asking (for the audit trail). */
export interface EntitlementChecks {
  rechecker: Pick<Rechecker, 'check'>;
  request?: RecheckRequest;
}

/**
 * Local users: the config's users list is the source, read on every call
 * (that is their check). Upstream users: through the re-check engine
 * (lib/upstream/recheck.ts), which asks the upstream only when the last
 * check is older than the upstream's recheck_interval and otherwise returns
 * the stored identity without a write. An upstream removed from the config
 * ends every session it started. Without `checks` (tests of other modules),
 * upstream users keep their stored identity.
 */
export async function currentEntitlements(config: Sources, user: User, checks?: EntitlementChecks): Promise<Entitlements> {
  const { upstreams, users } = indexOf(config);
  const upstream = upstreams.get(user.upstream);
  if (!upstream) return { status: 'removed', reason: 'upstream_removed' };
  if (upstream.type === 'local') {
    const local = users.get(user.subject);
    if (!local) return { status: 'removed', reason: 'user_removed' };
    const profile = localIdentity(upstream, local);
    return { status: 'active', username: profile.username, groups: profile.groups };
  }
  if (!checks) return { status: 'active', username: user.username, groups: user.groups };
  const verdict = await checks.rechecker.check(upstream, user, checks.request);
  switch (verdict.status) {
    case 'active':
      return { status: 'active', username: verdict.user.username, groups: verdict.user.groups, email: verdict.user.email, name: verdict.user.name };
    case 'gone':
      return { status: 'removed', reason: 'upstream_gone' };
    case 'unavailable':
      return { status: 'unavailable', reason: 'upstream_unavailable' };
  }
}

/** The person as entitled now: the stored row with the current username, groups and (when re-checked) email and name. */
export function entitledUser(user: User, current: Extract<Entitlements, { status: 'active' }>): User {
  return {
    ...user,
    username: current.username,
    groups: current.groups,
    ...(current.email !== undefined ? { email: current.email } : {}),
    ...(current.name !== undefined ? { name: current.name } : {}),
  };
}
