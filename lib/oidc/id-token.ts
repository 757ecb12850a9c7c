import { KeyObject, sign as cryptoSign } from 'node:crypto';
import type { JWTPayload } from 'jose';
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

/** What signing with one key needs, prepared once: the key as node:crypto holds it and the encoded protected header. */
interface PreparedKey {
  key: KeyObject;
  /** base64url of `{"alg":…,"kid":…,"typ":"JWT"}`, followed by the `.` of the compact form. */
  headerDot: string;
  dsaEncoding: 'ieee-p1363' | undefined;
}

const prepared = new WeakMap<ActiveKey, PreparedKey>();

function prepare(k: ActiveKey): PreparedKey {
  let p = prepared.get(k);
  if (p) return p;
  const key = k.key instanceof KeyObject ? k.key : KeyObject.from(k.key);
  if (key.type !== 'private') throw new TypeError(`signing key ${k.kid} is not a private key`);
  const details = key.asymmetricKeyDetails;
  if (k.alg === 'RS256') {
    if (key.asymmetricKeyType !== 'rsa' || (details?.modulusLength ?? 0) < 2048) throw new TypeError(`signing key ${k.kid} is not an RSA key of 2048 bits or more (RS256)`);
  } else if (k.alg === 'ES256') {
    if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') throw new TypeError(`signing key ${k.kid} is not a P-256 key (ES256)`);
  } else {
    throw new TypeError(`unsupported signing algorithm ${String(k.alg)}`);
  }
  // The header exactly as jose's SignJWT#setProtectedHeader({ alg, kid, typ }) encodes it.
  const headerDot = Buffer.from(JSON.stringify({ alg: k.alg, kid: k.kid, typ: 'JWT' })).toString('base64url') + '.';
  p = { key, headerDot, dsaEncoding: k.alg === 'ES256' ? 'ieee-p1363' : undefined };
  prepared.set(k, p);
  return p;
}

/**
 * Signs an id_token (JWS compact serialization, RFC 7515 §7.1): the same
 * bytes jose's SignJWT produces for header and payload (JSON.stringify of
 * each, base64url), signed by node:crypto on the key converted once to a
 * KeyObject, with the header encoded once per key. jose's WebCrypto path
 * costs about three times as much per signature (ES256), which is most of a
 * refresh's CPU. RS256: PKCS#1 v1.5 with SHA-256; ES256: ECDSA P-256 with
 * SHA-256, signature as r‖s (RFC 7518 §3.4). jose still verifies and
 * handles keys (lib/oidc/keys.ts).
 */
export function signIdTokenSync(claims: JWTPayload, k: ActiveKey): string {
  const p = prepare(k);
  for (const c of ['iat', 'nbf', 'exp'] as const) {
    const v = claims[c];
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`"${c}" claim must be a finite number`);
  }
  const input = p.headerDot + Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = cryptoSign('sha256', Buffer.from(input, 'latin1'), p.dsaEncoding ? { key: p.key, dsaEncoding: p.dsaEncoding } : p.key);
  return input + '.' + signature.toString('base64url');
}

export async function signIdToken(claims: JWTPayload, key: ActiveKey): Promise<string> {
  return signIdTokenSync(claims, key);
}
