import type { NextAuthConfig } from 'next-auth';

type AuthCookies = Required<NonNullable<NextAuthConfig['cookies']>>;

/** Short-lived cookies of an upstream round trip (PKCE verifier, state): 15 minutes, as Auth.js's defaults. */
const ROUND_TRIP_SECONDS = 15 * 60;

/**
 * Every cookie Auth.js sets, named with the `__Host-` prefix: the browser
 * then accepts it only with Secure, Path=/ and no Domain, so neither a
 * sibling subdomain nor a plain-http page on the same host can plant or
 * overwrite it (RFC 6265bis §4.1.3.2). Auth.js's own defaults give that
 * prefix to the CSRF cookie only and `__Secure-` to the rest. Chromium, like
 * every current browser, treats http://localhost and http://127.0.0.1 as
 * secure contexts, so development over plain http keeps working.
 *
 * Renaming the session cookie signs out everyone who held the old one (its
 * name is also the salt of its encryption): they sign in again.
 */
export function hostPrefixedCookies(): AuthCookies {
  const cookie = (name: string, maxAge?: number) => ({
    name: `__Host-authjs.${name}`,
    options: { httpOnly: true, sameSite: 'lax' as const, path: '/', secure: true, ...(maxAge === undefined ? {} : { maxAge }) },
  });
  return {
    sessionToken: cookie('session-token'),
    callbackUrl: cookie('callback-url'),
    csrfToken: cookie('csrf-token'),
    pkceCodeVerifier: cookie('pkce.code_verifier', ROUND_TRIP_SECONDS),
    state: cookie('state', ROUND_TRIP_SECONDS),
    nonce: cookie('nonce'),
    webauthnChallenge: cookie('challenge', ROUND_TRIP_SECONDS),
  };
}
