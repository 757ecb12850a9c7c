import type { OAuthConnector } from '../types';
import { completeOidcSignIn } from './identity';
import { recheckOidc } from './recheck';
import { OidcUpstreamSchema, type OidcUpstreamConfig } from './schema';

export { OidcUpstreamSchema, type OidcUpstreamConfig };

function origin(url: string): string[] {
  try {
    return [new URL(url).origin];
  } catch {
    return [];
  }
}

/**
 * A generic OpenID Connect provider (Keycloak, Okta, Entra ID, Google, Dex…).
 * next-auth runs the redirect (authorization code + PKCE, state, nonce, the
 * id_token's signature); `complete` maps the claims (identity.ts) and keeps
 * the upstream refresh token for `recheck` (recheck.ts).
 */
export const oidcConnector: OAuthConnector<OidcUpstreamConfig> = {
  type: 'oidc',
  flow: 'oauth',
  schema: OidcUpstreamSchema,
  presentation: (u) => ({ kind: 'button', label: u.display_name ?? u.id }),
  // The sign-in form's action redirects to the issuer's authorization endpoint (same origin in practice).
  formActionOrigins: (u) => origin(u.issuer),
  provider: (u) => ({
    id: u.id,
    name: u.display_name ?? u.id,
    type: 'oidc' as const,
    issuer: u.issuer,
    clientId: u.client_id,
    clientSecret: u.client_secret,
    // Authorization code + PKCE, with state and nonce checked on return.
    checks: ['pkce', 'state', 'nonce'],
    authorization: { params: { scope: [...new Set(['openid', 'profile', 'email', ...u.scopes])].join(' ') } },
    client: { token_endpoint_auth_method: u.client_secret ? u.token_endpoint_auth_method : ('none' as const) },
    // Identity mapping happens in complete(), from the raw claims.
    profile: (claims: Record<string, unknown>) => ({ id: String(claims.sub) }),
  }),
  complete: (u, callback, ctx) => completeOidcSignIn(u, callback, ctx.now()),
  recheck: (u, user, recheckState, ctx) => recheckOidc(u, user, recheckState, ctx),
};
