/**
 * Who may use the admin console, and when an admin must prove themselves
 * again first. Pure: the server glue (context.ts) feeds it the session.
 */
import { sessionHasMfa } from '../../mfa/policy';

/** The config's `admin` block (lib/config/schema.ts). */
export interface AdminPolicy {
  /** Members of any of these groups are admins; none: the console is off. */
  groups: readonly string[];
  /** Seconds: the longest ago an admin may have signed in to use the console. */
  reauth_after: number;
}

export function isAdmin(policy: Pick<AdminPolicy, 'groups'>, groups: readonly string[]): boolean {
  return policy.groups.length > 0 && groups.some((g) => policy.groups.includes(g));
}

/**
 * What an admin's session allows, in this order:
 *   - 'not_found': not an admin (the console answers 404 so it is not revealed);
 *   - 'reauth': the sign-in is older than reauth_after, or dated in the future
 *     (a clock step must not grant a long window): sign in again. The age is
 *     that of Kubegate's login session (`created_at`), not the upstream's
 *     `auth_time`: an IdP with a long SSO session reports its own older
 *     sign-in, and "sign in again" would then loop forever;
 *   - 'mfa': the admin has a second factor but has not shown it on this session;
 *   - 'ok'.
 */
export type AdminGate = 'ok' | 'not_found' | 'reauth' | 'mfa';

export function adminGate(input: {
  policy: AdminPolicy;
  groups: readonly string[];
  session: { created_at: number; amr: readonly string[] };
  /** The admin's confirmed second factors. */
  enrolledFactors: number;
  now: number;
}): AdminGate {
  if (!isAdmin(input.policy, input.groups)) return 'not_found';
  const age = input.now - input.session.created_at;
  if (age < 0 || age > input.policy.reauth_after * 1000) return 'reauth';
  if (input.enrolledFactors > 0 && !sessionHasMfa(input.session)) return 'mfa';
  return 'ok';
}

/** Only a path inside the console may be the way back (no open redirect through `next`). */
export function consolePath(next: string | undefined): string {
  return next !== undefined && /^\/admin(?:[/?#]|$)/.test(next) && !next.startsWith('//') ? next : '/admin';
}

/** Where a gate that is not 'ok' or 'not_found' sends the admin, to come back to `next`. */
export function gateRedirect(gate: 'reauth' | 'mfa', next: string): string {
  const back = encodeURIComponent(consolePath(next));
  return gate === 'reauth' ? `/login?prompt=login&next=${back}` : `/mfa?next=${back}`;
}
