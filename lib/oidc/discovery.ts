import { DEVICE_CODE_GRANT } from './errors';
import type { SigningAlg } from './keys';

/** Issuer endpoint paths, relative to the issuer URL (which has no path). */
export const ISSUER_PATHS = {
  discovery: '/.well-known/openid-configuration',
  jwks: '/oidc/jwks',
  token: '/oidc/token',
  authorize: '/oidc/authorize',
  deviceAuthorization: '/oidc/device_authorization',
  revocation: '/oidc/revoke',
} as const;

/**
 * OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC 8414), every URL
 * derived from the one configured issuer. kube-apiserver requires `issuer`
 * to equal its --oidc-issuer-url exactly and reads `jwks_uri`; kubectl
 * reads `token_endpoint` on every refresh; kubelogin reads the
 * authorization and device endpoints, and uses PKCE S256 only when
 * `code_challenge_methods_supported` lists it.
 */
export function discoveryDocument(issuer: string, alg: SigningAlg) {
  return {
    issuer,
    authorization_endpoint: issuer + ISSUER_PATHS.authorize,
    token_endpoint: issuer + ISSUER_PATHS.token,
    device_authorization_endpoint: issuer + ISSUER_PATHS.deviceAuthorization,
    jwks_uri: issuer + ISSUER_PATHS.jwks,
    // RFC 7009 / RFC 8414 §2: refresh tokens only (the id_tokens we issue cannot be revoked one by one).
    revocation_endpoint: issuer + ISSUER_PATHS.revocation,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
    code_challenge_methods_supported: ['S256'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [alg],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    scopes_supported: ['openid', 'profile', 'email', 'groups', 'offline_access'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'name', 'email', 'preferred_username', 'groups', 'amr', 'acr'],
    acr_values_supported: ['aal1', 'aal2'],
    prompt_values_supported: ['none', 'login'],
    // RFC 9207: every authorization response carries `iss`.
    authorization_response_iss_parameter_supported: true,
  };
}
