import { z } from 'zod';
import { LinkError, nextPageUrl } from './link';

/**
 * A small client for the few GitHub REST endpoints the connector reads
 * (docs.github.com/rest: users, orgs, teams). Every call has a deadline,
 * every answer is validated before anything reads it, and failures are
 * sorted into what the caller decides on: the token is no good
 * ('unauthorized'), GitHub did not answer in time ('unavailable'), or it
 * answered something we cannot use ('invalid').
 */

/** The REST API version the payload shapes below were written against. */
export const GITHUB_API_VERSION = '2022-11-28';
const USER_AGENT = 'kubegate';
/** GitHub's largest page; fewer round trips for people in many teams. */
const PER_PAGE = 100;
/** 100 pages of 100 teams: far past any real person, short of a server that never stops paginating. */
const MAX_PAGES = 100;

export type GitHubApiErrorKind = 'unauthorized' | 'unavailable' | 'invalid';

export class GitHubApiError extends Error {
  override name = 'GitHubApiError';
  constructor(
    readonly kind: GitHubApiErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

// GitHub sends many more fields; only these are read, and unknown ones are ignored.
export const GitHubUser = z.looseObject({
  /** Numeric and never reused: the stable subject (a login can be renamed and then taken by someone else). */
  id: z.number().int().positive(),
  login: z.string().min(1).max(100),
  name: z.string().max(500).nullish(),
  email: z.string().max(320).nullish(),
});
export type GitHubUser = z.infer<typeof GitHubUser>;

const GitHubEmail = z.looseObject({ email: z.string().max(320), primary: z.boolean(), verified: z.boolean() });
const GitHubOrg = z.looseObject({ login: z.string().min(1).max(100) });
const GitHubTeam = z.looseObject({
  slug: z.string().min(1).max(200),
  organization: z.looseObject({ login: z.string().min(1).max(100) }),
});
export type GitHubOrg = z.infer<typeof GitHubOrg>;
export type GitHubTeam = z.infer<typeof GitHubTeam>;

export interface GitHubApiOptions {
  /** https://api.github.com, or <GHES>/api/v3. */
  apiUrl: string;
  timeoutMs: number;
  /** Injected for tests; the platform's fetch otherwise. */
  fetch?: typeof fetch;
}

export class GitHubApi {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: GitHubApiOptions) {
    this.base = opts.apiUrl.replace(/\/+$/, '');
    this.fetchImpl = opts.fetch ?? fetch;
  }

  /** GET /user: the person the token belongs to. */
  async user(token: string): Promise<GitHubUser> {
    const res = await this.get(token, `${this.base}/user`);
    return parse(GitHubUser, await json(res), '/user');
  }

  /** GET /user/emails (needs `user:email`): the primary address, if GitHub has verified it. */
  async primaryVerifiedEmail(token: string): Promise<string | null> {
    let res: Response;
    try {
      res = await this.get(token, `${this.base}/user/emails`);
    } catch (err) {
      // A token without the scope (403/404) simply has no email to offer; the rest still decides.
      if (err instanceof GitHubApiError && err.kind === 'invalid' && (err.status === 403 || err.status === 404)) return null;
      throw err;
    }
    const emails = parse(z.array(GitHubEmail), await json(res), '/user/emails');
    return emails.find((e) => e.primary && e.verified)?.email ?? null;
  }

  /** GET /user/orgs, every page (needs `read:org` to see private memberships). */
  orgs(token: string): Promise<GitHubOrg[]> {
    return this.all(token, '/user/orgs', GitHubOrg);
  }

  /** GET /user/teams, every page, across all of the person's orgs. */
  teams(token: string): Promise<GitHubTeam[]> {
    return this.all(token, '/user/teams', GitHubTeam);
  }

  private async all<T extends z.ZodType>(token: string, path: string, item: T): Promise<Array<z.infer<T>>> {
    const out: Array<z.infer<T>> = [];
    let url: string | undefined = `${this.base}${path}?per_page=${PER_PAGE}`;
    for (let page = 1; url; page++) {
      if (page > MAX_PAGES) throw new GitHubApiError('invalid', `${path}: more than ${MAX_PAGES} pages`);
      const res = await this.get(token, url);
      out.push(...parse(z.array(item), await json(res), path));
      try {
        url = nextPageUrl(res.headers.get('link'), this.base);
      } catch (err) {
        if (err instanceof LinkError) throw new GitHubApiError('invalid', `${path}: ${err.message}`);
        throw err;
      }
    }
    return out;
  }

  private async get(token: string, url: string): Promise<Response> {
    const path = new URL(url).pathname;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        headers: {
          accept: 'application/vnd.github+json',
          authorization: `Bearer ${token}`,
          'user-agent': USER_AGENT,
          'x-github-api-version': GITHUB_API_VERSION,
        },
        // A redirect is answered as is (and refused below): the token must not follow it anywhere.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      const why = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') ? `no answer within ${this.opts.timeoutMs} ms` : 'could not connect';
      throw new GitHubApiError('unavailable', `${path}: ${why}`);
    }
    if (res.ok) return res;
    await res.body?.cancel().catch(() => {});
    if (res.status === 401) throw new GitHubApiError('unauthorized', `${path}: the access token was refused (revoked or expired)`, 401);
    // A rate limit (primary: 403 with no requests left; secondary: 403/429 with Retry-After) passes: GitHub is there, just busy.
    const limited = res.status === 429 || (res.status === 403 && (res.headers.get('x-ratelimit-remaining') === '0' || res.headers.has('retry-after')));
    if (res.status >= 500 || limited) throw new GitHubApiError('unavailable', `${path}: GitHub answered ${res.status}${limited ? ' (rate limited)' : ''}`, res.status);
    throw new GitHubApiError('invalid', `${path}: GitHub answered ${res.status}`, res.status);
  }
}

async function json(res: Response): Promise<unknown> {
  const path = new URL(res.url || 'http://x/').pathname;
  try {
    return await res.json();
  } catch (err) {
    // The body arrives after the headers: a stall there is the same timeout.
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) throw new GitHubApiError('unavailable', `${path}: the answer stalled`);
    throw new GitHubApiError('invalid', `${path}: the answer is not JSON`);
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown, path: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new GitHubApiError('invalid', `${path}: unexpected answer (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`);
  }
  return result.data;
}
