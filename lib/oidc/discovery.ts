import type { SigningAlg } from './keys';

/** Issuer endpoint paths, relative to the issuer URL (which has no path). */
export const ISSUER_PATHS = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/oidc/jwks',
  token: '/oidc/token',
} as const;

/**
 * OpenID Provider Metadata (OIDC Discovery 1.0 §3), every URL derived from
 * the one configured issuer. kube-apiserver requires `issuer` to equal its
 * --oidc-issuer-url exactly and reads `jwks_uri`; kubectl reads
 * `token_endpoint` on every refresh.
 *
 * Only what exists is advertised: there is no authorization endpoint (the
 * portal hands out credentials), so neither `authorization_endpoint` nor
 * `response_types_supported` is listed.
 */
export function discoveryDocument(issuer: string, alg: SigningAlg) {
  return {
    issuer,
    token_endpoint: issuer + ISSUER_PATHS.token,
    jwks_uri: issuer + ISSUER_PATHS.jwks,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [alg],
    grant_types_supported: ['refresh_token'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    scopes_supported: ['openid', 'profile', 'email', 'groups', 'offline_access'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'name', 'email', 'preferred_username', 'groups', 'amr', 'acr'],
    acr_values_supported: ['aal1', 'aal2'],
  };
}
