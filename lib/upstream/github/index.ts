import { customFetch } from '@auth/core';
import { finalizeIdentity } from '../base';
import { UpstreamRefusal, type ConnectorContext, type OAuthConnector, type RecheckOutcome } from '../types';
import type { User, UserProfile } from '../../store/types';
import { GitHubApi, GitHubApiError } from './api';
import { gitHubEndpoints, GitHubUpstreamSchema, GITHUB_COM, type GitHubUpstreamConfig } from './config';
import { groupsFor } from './groups';

export { GitHubUpstreamSchema, type GitHubUpstreamConfig } from './config';

/**
 * GitHub and GitHub Enterprise Server through an OAuth app. next-auth runs
 * the redirect and the code exchange; `complete` then reads who the token
 * belongs to and their orgs and teams, and keeps the token (sealed by the
 * seam) so `recheck` can ask again later: GitHub OAuth app tokens do not
 * expire, and a revoked one answers 401.
 */

/** read:user for /user, user:email for a private primary address, read:org for private org and team memberships. */
export const GITHUB_SCOPES = 'read:user user:email read:org';

const api = (config: GitHubUpstreamConfig) => new GitHubApi({ apiUrl: gitHubEndpoints(config).api, timeoutMs: config.timeout * 1000 });

/** next-auth's own fetch for the code exchange, with our deadline: an upstream that stalls must not hold a sign-in open. */
function fetchWithin(ms: number): typeof fetch {
  return (input, init) => {
    const deadline = AbortSignal.timeout(ms);
    return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline });
  };
}

class NotAllowed extends Error {}

/** Who the token belongs to, mapped by the org and team rules; GitHubApiError or NotAllowed otherwise. */
async function readIdentity(config: GitHubUpstreamConfig, token: string): Promise<UserProfile> {
  const client = api(config);
  const [user, email, orgs, teams] = await Promise.all([client.user(token), client.primaryVerifiedEmail(token), client.orgs(token), client.teams(token)]);
  const decision = groupsFor(config.orgs, { orgs, teams });
  if (!decision.allowed) {
    throw new NotAllowed(`${user.login} (id ${user.id}) is in none of the allowed orgs or teams (${config.orgs.map((o) => o.name).join(', ')})`);
  }
  return finalizeIdentity(config, {
    // The numeric id, never the login: a login can be renamed and then registered by someone else.
    subject: String(user.id),
    username: user.login,
    email: email ?? user.email ?? null,
    name: user.name ?? null,
    groups: decision.groups,
  });
}

export const githubConnector: OAuthConnector<GitHubUpstreamConfig> = {
  type: 'github',
  flow: 'oauth',
  schema: GitHubUpstreamSchema,

  presentation(config) {
    const enterprise = gitHubEndpoints(config).web !== GITHUB_COM;
    return { kind: 'button', label: config.display_name ?? (enterprise ? 'GitHub Enterprise' : 'GitHub') };
  },

  formActionOrigins(config) {
    return [gitHubEndpoints(config).web];
  },

  provider(config) {
    const { web } = gitHubEndpoints(config);
    return {
      id: config.id,
      name: config.display_name ?? 'GitHub',
      type: 'oauth',
      // GitHub sends no `iss` with the code; this only names the server in next-auth's errors.
      issuer: `${web}/login/oauth`,
      clientId: config.client_id,
      clientSecret: config.client_secret,
      // GitHub documents the client credentials as form parameters of the token request.
      client: { token_endpoint_auth_method: 'client_secret_post' },
      checks: ['pkce', 'state'],
      authorization: { url: `${web}/login/oauth/authorize`, params: { scope: GITHUB_SCOPES, allow_signup: 'false' } },
      token: `${web}/login/oauth/access_token`,
      userinfo: {
        url: `${gitHubEndpoints(config).api}/user`,
        // Nothing is read here: complete() reads the person with their orgs and teams, where a
        // failure becomes a refusal the sign-in page can explain (an error here is only "Configuration").
        request: async () => ({}),
      },
      profile: () => ({}),
      options: { [customFetch]: fetchWithin(config.timeout * 1000) },
    };
  },

  async complete(config, { account }, ctx) {
    const token = account.access_token;
    if (typeof token !== 'string' || token === '') throw new UpstreamRefusal('invalid_response', 'GitHub sent no access token');
    try {
      const identity = await readIdentity(config, token);
      return { identity, amr: [], recheckState: token };
    } catch (err) {
      throw refusal(config, err, ctx);
    }
  },

  async recheck(config, user: User, recheckState, ctx): Promise<RecheckOutcome> {
    if (!recheckState) return { status: 'gone', reason: 'no GitHub access token is stored to re-check with' };
    try {
      const identity = await readIdentity(config, recheckState);
      if (identity.subject !== user.subject) {
        return { status: 'gone', reason: `the stored access token now belongs to GitHub user ${identity.subject}, not ${user.subject}` };
      }
      // The same token: GitHub OAuth app tokens are not rotated.
      return { status: 'active', identity, recheckState };
    } catch (err) {
      if (err instanceof NotAllowed) return { status: 'gone', reason: err.message };
      if (err instanceof GitHubApiError) {
        if (err.kind === 'unauthorized') return { status: 'gone', reason: 'GitHub refused the access token (revoked, or the OAuth app was removed)' };
        // 'invalid' too: an answer we cannot read today is no proof the person is gone; the grace bounds it.
        ctx.log.warn('github re-check failed', { upstream: config.id, subject: user.subject, reason: err.message });
        return { status: 'unavailable', reason: err.message };
      }
      throw err;
    }
  },
};

function refusal(config: GitHubUpstreamConfig, err: unknown, ctx: ConnectorContext): UpstreamRefusal {
  if (err instanceof UpstreamRefusal) return err;
  if (err instanceof NotAllowed) return new UpstreamRefusal('not_allowed', err.message);
  if (err instanceof GitHubApiError) {
    ctx.log.warn('github sign-in failed', { upstream: config.id, reason: err.message });
    return new UpstreamRefusal(err.kind === 'unavailable' ? 'unavailable' : 'invalid_response', err.message);
  }
  // A defect of ours, not GitHub's answer: logged as one, and the sign-in still fails closed.
  ctx.log.error('github sign-in failed unexpectedly', { upstream: config.id, reason: err instanceof Error ? err.message : String(err) });
  return new UpstreamRefusal('invalid_response', 'unexpected error while reading the GitHub account');
}
