import { SignJWT, type JWTPayload } from 'jose';
import { acrOf } from '../mfa/policy';
import type { LoginSession, User } from '../store/types';
import type { ActiveKey } from './keys';

export interface IdTokenInput {
  issuer: string;
  /** The cluster's client_id: the token is good for that cluster only. */
  audience: string;
  user: Pick<User, 'id' | 'username' | 'groups' | 'name' | 'email'>;
  session: Pick<LoginSession, 'auth_time' | 'expires_at' | 'amr'>;
  now: number;
  lifetimeSeconds: number;
  /** The authorization request's nonce (OIDC Core §3.1.2.1), echoed for the client to check. */
  nonce?: string;
}

export type IdTokenClaims = JWTPayload & { iat: number; exp: number; auth_time: number } & Record<string, unknown>;

/**
 * The id_token claims kube-apiserver reads (OIDC Core §2): a stable `sub`
 * (the user's immutable id, never an email), `preferred_username` and
 * `groups` for RBAC. Expiry never outlives the login session.
 *
 * Returns undefined when the token would already be expired at `iat` (the
 * session ends within this second): callers refuse rather than sign it.
 * A clock that stepped back since sign-in would put `auth_time` after
 * `iat`; `auth_time` is then reported as `iat` (the earlier, stricter
 * value), never after it.
 */
export function idTokenClaims(i: IdTokenInput): IdTokenClaims | undefined {
  const iat = Math.floor(i.now / 1000);
  const exp = Math.min(iat + i.lifetimeSeconds, Math.floor(i.session.expires_at / 1000));
  if (exp <= iat) return undefined;
  const claims: IdTokenClaims = {
    iss: i.issuer,
    sub: i.user.id,
    aud: i.audience,
    exp,
    iat,
    auth_time: Math.min(Math.floor(i.session.auth_time / 1000), iat),
    preferred_username: i.user.username,
    groups: i.user.groups,
    amr: i.session.amr,
    // aal2 once two factors were proven (here or upstream): an API server can require it (README, MFA).
    acr: acrOf(i.session.amr),
  };
  if (i.nonce !== undefined) claims.nonce = i.nonce;
  if (i.user.name) claims.name = i.user.name;
  if (i.user.email) claims.email = i.user.email;
  return claims;
}

export function signIdToken(claims: JWTPayload, key: ActiveKey): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.key);
}
