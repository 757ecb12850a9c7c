import { finalizeIdentity } from '../base';
import type { OAuthCallback, UpstreamSignIn } from '../types';
import { UpstreamRefusal } from '../types';
import type { UserProfile } from '../../store/types';
import { checkRequiredClaims, groupsOverage, readClaim, readOptionalString, readStringList, readUsername } from './claims';
import { graphGroups } from './graph';
import type { OidcUpstreamConfig } from './schema';
import { discover, fetchUserinfo } from './upstream';

/** What the upstream answered: the verified id_token's claims and the access token that came with it. */
export interface OidcAnswer {
  claims: Record<string, unknown>;
  accessToken?: string | null;
  /** Userinfo already fetched for this access token (a re-check whose refresh brought no id_token). */
  userinfo?: Record<string, unknown>;
}

/**
 * Maps an upstream OIDC answer to our identity, per the upstream's config:
 *  1. the userinfo endpoint is called (access token, `sub` must match) when
 *     `groups_source` says so, or under `auto` when the id_token lacks the
 *     groups claim (and shows no overage), the username claim or a required
 *     claim;
 *  2. `required_claims` hold against the id_token's claims, then userinfo's
 *     for a claim the id_token lacks (the signed token wins a conflict);
 *  3. the username and groups claims are read by path (claims.ts);
 *  4. an Entra ID group overage is resolved through Microsoft Graph when
 *     `entra_overage` is configured, refused by name otherwise: groups are
 *     never silently dropped;
 *  5. finalizeIdentity applies the allow-list and the prefixes.
 */
export async function mapOidcIdentity(config: OidcUpstreamConfig, answer: OidcAnswer, now: number): Promise<UserProfile> {
  const idToken = answer.claims;
  const sub = idToken.sub;
  if (typeof sub !== 'string' || sub === '') throw new UpstreamRefusal('claims', 'the upstream sent no subject (sub)');

  const inIdToken = readStringList(idToken, config.groups_claim);
  const overage = inIdToken === undefined && groupsOverage(idToken, config.groups_claim);
  let userinfo = answer.userinfo;
  const lacksClaim = [config.username_claim, ...Object.keys(config.required_claims)].some((path) => readClaim(idToken, path) === undefined);
  const wantUserinfo =
    config.groups_source === 'userinfo' || (config.groups_source === 'auto' && ((inIdToken === undefined && !overage) || lacksClaim));
  if (wantUserinfo && !userinfo) {
    const as = await discover(config, now);
    if (config.groups_source === 'userinfo' || as.userinfo_endpoint) {
      if (!answer.accessToken) throw new UpstreamRefusal('claims', 'the upstream sent no access token to call its userinfo endpoint with');
      userinfo = await fetchUserinfo(config, as, answer.accessToken, sub);
    }
  }
  const claims = userinfo ? { ...userinfo, ...idToken } : idToken;

  checkRequiredClaims(config.required_claims, claims);
  const username = readUsername(claims, config.username_claim);

  let groups: string[];
  if (config.groups_source === 'userinfo') groups = readStringList(userinfo ?? {}, config.groups_claim) ?? [];
  else if (inIdToken !== undefined) groups = inIdToken;
  else if (overage) groups = await overageGroups(config, answer.accessToken);
  else groups = (userinfo && readStringList(userinfo, config.groups_claim)) ?? [];

  return finalizeIdentity(config, {
    subject: sub,
    username,
    email: readOptionalString(claims, 'email'),
    name: readOptionalString(claims, 'name'),
    groups,
  });
}

async function overageGroups(config: OidcUpstreamConfig, accessToken: string | null | undefined): Promise<string[]> {
  if (!config.entra_overage) {
    throw new UpstreamRefusal(
      'claims',
      `too many groups for the token: the upstream left the "${config.groups_claim}" claim out (Entra ID group overage); ` +
        'enable entra_overage to read them from Microsoft Graph, or configure a group filter in the app registration ("groups assigned to the application")',
    );
  }
  if (!accessToken) throw new UpstreamRefusal('claims', 'group overage: the upstream sent no access token to call Microsoft Graph with');
  return graphGroups(
    { graphUrl: config.entra_overage.graph_url, groupName: config.entra_overage.group_name, timeoutSeconds: config.http_timeout },
    accessToken,
  );
}

/** RFC 8176 authentication method references from the upstream, if it sent a usable list. */
export function amrFromClaims(claims: Record<string, unknown>): string[] {
  const amr = claims.amr;
  return Array.isArray(amr) ? amr.filter((v): v is string => typeof v === 'string').slice(0, 10) : [];
}

/**
 * The connector's `complete`: next-auth has exchanged the code and verified
 * the id_token (its claims are `profile`); map them, and keep the upstream
 * refresh token (if the provider issued one) as the re-check state.
 */
export async function completeOidcSignIn(config: OidcUpstreamConfig, callback: OAuthCallback, now: number): Promise<UpstreamSignIn> {
  const { account, profile } = callback;
  const accessToken = typeof account.access_token === 'string' ? account.access_token : null;
  const identity = await mapOidcIdentity(config, { claims: profile, accessToken }, now);
  const refreshToken = typeof account.refresh_token === 'string' && account.refresh_token !== '' ? account.refresh_token : null;
  return {
    identity,
    amr: amrFromClaims(profile),
    ...(typeof profile.acr === 'string' ? { acr: profile.acr } : {}),
    ...(typeof profile.auth_time === 'number' ? { authTime: profile.auth_time * 1000 } : {}),
    recheckState: refreshToken,
  };
}
