import type { GitHubOrgRule } from './config';

/** What the API said about the person's memberships (only the fields the rules read). */
export interface Memberships {
  orgs: ReadonlyArray<{ login: string }>;
  teams: ReadonlyArray<{ slug: string; organization: { login: string } }>;
}

export type GroupDecision =
  | { allowed: true; groups: string[] }
  /** In none of the configured orgs (or, where teams are listed, in none of those teams). */
  | { allowed: false };

/**
 * The org and team rules, in one place. For each configured org the person
 * belongs to: no `teams` filter admits every member and maps every team of
 * theirs in it; a filter admits only members of a listed team and maps only
 * those teams. Groups are `org` and `org/team-slug`, with the org spelled as
 * the config spells it (GitHub logins ignore case; RBAC bindings do not, so
 * the admin's spelling is the one that stays put), and nothing from any org
 * outside the config reaches a token.
 */
export function groupsFor(rules: readonly GitHubOrgRule[], memberships: Memberships): GroupDecision {
  const memberOf = new Set(memberships.orgs.map((o) => o.login.toLowerCase()));
  const groups: string[] = [];
  for (const rule of rules) {
    const org = rule.name.toLowerCase();
    // A team membership implies org membership, but /user/orgs is the authority on the org itself.
    if (!memberOf.has(org)) continue;
    const slugs = memberships.teams.filter((t) => t.organization.login.toLowerCase() === org).map((t) => t.slug.toLowerCase());
    const wanted = rule.teams ? new Set(rule.teams.map((t) => t.toLowerCase())) : undefined;
    const mapped = wanted ? slugs.filter((s) => wanted.has(s)) : slugs;
    if (wanted && mapped.length === 0) continue;
    groups.push(rule.name, ...mapped.map((s) => `${rule.name}/${s}`));
  }
  if (groups.length === 0) return { allowed: false };
  return { allowed: true, groups: [...new Set(groups)].sort() };
}
