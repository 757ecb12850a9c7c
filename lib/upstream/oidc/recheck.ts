import * as oauth from 'oauth4webapi';
import type { User } from '../../store/types';
import type { ConnectorContext, RecheckOutcome } from '../types';
import { mapOidcIdentity, type OidcAnswer } from './identity';
import type { OidcUpstreamConfig } from './schema';
import { checkStatus, clientOf, discover, fetchUserinfo, refusalFor, requestOptions } from './upstream';

/**
 * Re-checks a person with the upstream refresh token kept from their sign-in
 * (the seam seals it at rest): the refresh-token grant at the provider's
 * token endpoint, then the new id_token (or, when the provider sends none on
 * refresh, its userinfo for the new access token) mapped by the same rules
 * as a sign-in. A provider that rotates refresh tokens gets its new one kept.
 *
 *  - `invalid_grant`: the grant is gone upstream (signed out, revoked, the
 *    account disabled or deleted): 'gone';
 *  - the mapping refuses (a required claim no longer holds, the subject
 *    changed, the username claim vanished): 'gone';
 *  - a network error, timeout, 5xx or 429, and answers we cannot read
 *    (including our own client being refused): 'unavailable', so a blip or a
 *    misconfiguration costs the grace period, not everyone's sessions;
 *  - no refresh token (the provider issued none: `offline_access` not asked
 *    for or not allowed): 'not_supported', and the session's absolute
 *    lifetime applies. Userinfo alone is no substitute: the access token it
 *    needs lives about an hour, far shorter than any session.
 */
export async function recheckOidc(config: OidcUpstreamConfig, user: Pick<User, 'subject'>, recheckState: string | null, ctx: Pick<ConnectorContext, 'now'>): Promise<RecheckOutcome> {
  if (!recheckState) return { status: 'not_supported' };
  try {
    const as = await discover(config, ctx.now());
    const { client, auth } = clientOf(config);
    const response = await oauth.refreshTokenGrantRequest(as, client, auth, recheckState, requestOptions(config));
    checkStatus(response, 'refresh');
    let tokens: oauth.TokenEndpointResponse;
    try {
      tokens = await oauth.processRefreshTokenResponse(as, client, response);
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant') {
        return { status: 'gone', reason: 'the upstream refused the refresh token (invalid_grant): signed out, revoked, disabled or deleted upstream' };
      }
      throw err;
    }
    const idToken = oauth.getValidatedIdTokenClaims(tokens);
    let answer: OidcAnswer;
    if (idToken) {
      // OIDC Core §12.2: a refreshed id_token is about the same person.
      if (idToken.sub !== user.subject) return { status: 'gone', reason: 'the refreshed id_token names another subject' };
      answer = { claims: idToken as Record<string, unknown>, accessToken: tokens.access_token };
    } else {
      const userinfo = await fetchUserinfo(config, as, tokens.access_token, user.subject);
      answer = { claims: userinfo, accessToken: tokens.access_token, userinfo };
    }
    const identity = await mapOidcIdentity(config, answer, ctx.now());
    return { status: 'active', identity, recheckState: tokens.refresh_token ?? recheckState };
  } catch (err) {
    const refusal = refusalFor(err, 'refresh');
    if (refusal.code === 'unavailable' || refusal.code === 'invalid_response' || refusal.code === 'rate_limited') {
      return { status: 'unavailable', reason: refusal.detail };
    }
    return { status: 'gone', reason: refusal.detail };
  }
}
