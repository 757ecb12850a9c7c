/**
 * The timings that make a key change invisible to verifiers, in one place:
 * the JWKS cache lifetime we announce, how often every process re-reads the
 * signing keys, and how long a new key is published before it signs.
 *
 * A verifier that caches the JWKS (kube-apiserver, jose's
 * createRemoteJWKSet, a proxy honouring Cache-Control) learns of a new key
 * only when it fetches the JWKS again. A key published at P can appear in
 * a running server's JWKS as late as P + KEY_SYNC_INTERVAL, and a verifier
 * may hold the previous document for JWKS_MAX_AGE after that: so a key must
 * be published for longer than both before its first token is signed.
 */

/** `Cache-Control: max-age` of /oidc/jwks. */
export const JWKS_MAX_AGE_SECONDS = 60;
export const JWKS_CACHE_CONTROL = `public, max-age=${JWKS_MAX_AGE_SECONDS}`;

/** Every process re-reads the signing keys this often (a rotation or revocation elsewhere bites within it). */
export const KEY_SYNC_INTERVAL_SECONDS = 5;

/** Slack for timers and a slow fetch. */
const MARGIN_SECONDS = 10;

/** The shortest `signing.publish_ahead` that still covers a cached JWKS. */
export const MIN_PUBLISH_AHEAD_SECONDS = JWKS_MAX_AGE_SECONDS + KEY_SYNC_INTERVAL_SECONDS + MARGIN_SECONDS;

/**
 * Default `signing.publish_ahead`: 15 minutes. Beyond the minimum it also
 * covers verifiers that keep a JWKS for 10 minutes whatever it says (jose's
 * default cacheMaxAge, Envoy's default cache_duration) and do not fetch again
 * on an unknown kid.
 */
export const DEFAULT_PUBLISH_AHEAD_SECONDS = 15 * 60;
