import { z } from 'zod';
import { duration } from '../../config/fields';
import { unpasteable } from '../../kubeconfig/shells/guard';
import { upstreamBase } from '../base';

/**
 * A GitHub (or GitHub Enterprise Server) OAuth app as an upstream. Sign-in
 * is limited to members of the configured organizations (and, per
 * organization, optionally of some of its teams).
 */

/** GitHub logins: letters, digits and single hyphens, not at either end, at most 39 characters. */
const orgLogin = z
  .string()
  .regex(/^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$/, 'must be a GitHub organization login (letters, digits and single hyphens)');

/** A team's slug, as in its URL (github.com/orgs/<org>/teams/<slug>). */
const teamSlug = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a team slug as in the team URL (letters, digits, ".", "_" and "-")');

const OrgRule = z.strictObject({
  name: orgLogin,
  /** Only members of these teams get in through this org (and only these teams become groups); omitted: every member. */
  teams: z.array(teamSlug).min(1, 'list at least one team slug, or omit "teams" to admit every member').optional(),
});

/** A clean absolute http(s) URL: the URL parser silently drops tabs and line breaks, so the raw text is checked first. */
function urlProblem(raw: string, opts: { allowPath: boolean }): string | undefined {
  const bad = unpasteable(raw);
  if (bad) return bad;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL such as https://github.example.com';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL';
  if (url.search || url.hash || /[?#]/.test(raw)) return 'must not carry a query or fragment';
  if (url.username || url.password) return 'must not carry credentials';
  if (!opts.allowPath && url.pathname !== '/') return 'must be the server\'s root URL (GitHub Enterprise Server answers at the root of its host name)';
  return undefined;
}

const url = (allowPath: boolean) =>
  z.string().superRefine((raw, ctx) => {
    const problem = urlProblem(raw, { allowPath });
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const GITHUB_COM = 'https://github.com';

export const GitHubUpstreamSchema = z
  .strictObject({
    ...upstreamBase,
    type: z.literal('github'),
    client_id: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    client_secret: z.string().min(1),
    /** https://github.com, or a GitHub Enterprise Server's root URL (its API is then <base_url>/api/v3). */
    base_url: url(false).default(GITHUB_COM),
    /** Only when the API is not where base_url implies (GHE.com data residency: https://api.<subdomain>.ghe.com). */
    api_url: url(true).optional(),
    /** Sign-in is limited to members of these organizations; groups are `org` and `org/team-slug`. */
    orgs: z.array(OrgRule).min(1, 'list at least one organization: anyone with a GitHub account could sign in otherwise'),
    /** Each call to the GitHub API (token exchange, /user, each page of /user/orgs and /user/teams). */
    timeout: duration('timeout', 1, 60).default(10),
    /** Accept http base_url/api_url: for tests and labs only. */
    allow_insecure_http: z.boolean().default(false),
  })
  .superRefine(
    (u, ctx) => {
      // Also when another field is wrong (then values may still be raw input): one run, every problem.
      if (u.allow_insecure_http !== true) {
        for (const key of ['base_url', 'api_url'] as const) {
          const v = u[key];
          if (typeof v === 'string' && URL.canParse(v) && new URL(v).protocol === 'http:') {
            ctx.addIssue({ code: 'custom', path: [key], message: 'must be an https URL (set allow_insecure_http: true only for a lab)' });
          }
        }
      }
      if (Array.isArray(u.orgs)) {
        const seen = new Set<string>();
        u.orgs.forEach((o, i) => {
          if (typeof o?.name !== 'string') return;
          const key = o.name.toLowerCase();
          if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['orgs', i, 'name'], message: `"${o.name}" is listed twice (GitHub logins ignore case)` });
          seen.add(key);
        });
      }
    },
    { when: () => true },
  );

export type GitHubUpstreamConfig = z.infer<typeof GitHubUpstreamSchema>;
export type GitHubOrgRule = z.infer<typeof OrgRule>;

/** Where the browser signs in, and where the REST API answers. */
export function gitHubEndpoints(config: Pick<GitHubUpstreamConfig, 'base_url' | 'api_url'>): { web: string; api: string } {
  const web = new URL(config.base_url).origin;
  const api = config.api_url
    ? config.api_url.replace(/\/+$/, '')
    : web === GITHUB_COM
      ? 'https://api.github.com'
      : `${web}/api/v3`;
  return { web, api };
}
