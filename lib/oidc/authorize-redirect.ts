import { createHash } from 'node:crypto';
import type { OAuthClient } from './client-auth';

/**
 * kubelogin's `authcode-keyboard` default: no redirect; the code is shown on
 * a Kubegate page for the person to paste into the terminal.
 */
export const OOB_REDIRECT_URI = 'urn:ietf:wg:oauth:2.0:oob';

/**
 * RFC 8252 §7.3 loopback redirect, as a strict pattern on the raw string:
 * `http`, one of the three loopback names, an optional port, then a path or
 * query or nothing. Anything a URL parser would normalize first (userinfo
 * such as `http://localhost@evil`, `localhost.evil.com`, percent-encoded
 * host bytes, a fragment, backslashes) never reaches the parser.
 */
const LOOPBACK = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?(?:[/?][\x21-\x7e]*)?$/;

/** True when `uri` is a loopback redirect URI a native client may use on any port. */
export function isLoopbackRedirect(uri: string): boolean {
  const m = LOOPBACK.exec(uri);
  if (!m || uri.includes('#') || uri.includes('\\')) return false;
  if (m[2] !== undefined) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return false;
  }
  // Dot segments, encoded or not, in the path: a loopback listener has no use for them.
  const rest = uri.slice(uri.indexOf('/', 7) === -1 ? uri.length : uri.indexOf('/', 7)).split('?')[0]!;
  return !/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(rest);
}

/**
 * The redirect URI rule (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3): an exact
 * string match with a registered URI; for a native client also any
 * loopback URI on any port (RFC 8252 §7.3) and the out-of-band URN.
 */
export function redirectUriAllowed(client: Pick<OAuthClient, 'redirectUris' | 'native'>, uri: string): boolean {
  if ((client.redirectUris ?? []).includes(uri)) return true;
  if (!client.native) return false;
  return uri === OOB_REDIRECT_URI || isLoopbackRedirect(uri);
}

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** The S256 challenge is the base64url SHA-256 of the verifier: exactly 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export function isWellFormedChallenge(challenge: string): boolean {
  return S256_CHALLENGE.test(challenge);
}

export function isWellFormedVerifier(verifier: string): boolean {
  return VERIFIER.test(verifier);
}

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge. */
export function verifierMatches(verifier: string, challenge: string): boolean {
  return isWellFormedVerifier(verifier) && createHash('sha256').update(verifier, 'ascii').digest('base64url') === challenge;
}

/**
 * The client's redirect URI with the response parameters added to its
 * query (RFC 6749 §4.1.2), keeping any query it already has.
 */
export function withResponseParams(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v);
  return url.href;
}
