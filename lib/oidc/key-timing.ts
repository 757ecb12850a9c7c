/**
 * The timings that make a key change invisible to verifiers, in one place:
 * the JWKS cache lifetime we announce (`signing.jwks_max_age`), how often
 * every process re-reads the signing keys, and how long a new key is
 * published before it signs (`signing.publish_ahead`).
 *
 * A verifier that caches the JWKS (an HTTP cache or proxy honouring
 * Cache-Control, a library configured to follow it) learns of a new key
 * only when it fetches the JWKS again. A key published at P can appear in
 * a running server's JWKS as late as P + KEY_SYNC_INTERVAL, and a verifier
 * may hold the previous document for jwks_max_age after that: so a key must
 * be published for longer than both before its first token is signed.
 *
 * kube-apiserver (go-oidc v2's RemoteKeySet) keeps the keys it fetched and,
 * on a token with an unknown `kid`, fetches again only once its copy is
 * within 30 s of its max-age: so the same bound covers it, and a max-age of
 * 30 s or less makes it refetch on every unknown kid (in-flight fetches are
 * shared, but tokens with made-up kids then each cost a JWKS fetch).
 *
 * The max-age is a setting because it trades that load against how soon a
 * rotation may happen: the shortest legal publish_ahead follows from it
 * (minPublishAheadSeconds). Verifiers that refuse to refetch for a while
 * after a fetch (jose's createRemoteJWKSet: a 30 s cooldown) or keep a JWKS
 * for a fixed time whatever it says (jose's and Envoy's 10 min) need a
 * publish_ahead longer than that, which the 15 min default gives whatever
 * the max-age; the minimum does not when the max-age is short.
 */

/** Default `signing.jwks_max_age`: the JWKS `Cache-Control: max-age` in seconds. */
export const DEFAULT_JWKS_MAX_AGE_SECONDS = 60;

/**
 * Bounds of `signing.jwks_max_age`. At least 1 s: 0 would make every
 * verification a fetch. At most 1 h: a longer cache only postpones every
 * rotation (publish_ahead must exceed it) for little saved traffic.
 */
export const JWKS_MAX_AGE_BOUNDS = { min: 1, max: 3600 } as const;

/** The Cache-Control of /oidc/jwks. */
export const jwksCacheControl = (maxAgeSeconds: number) => `public, max-age=${maxAgeSeconds}`;

/** Every process re-reads the signing keys this often (a rotation or revocation elsewhere bites within it). */
export const KEY_SYNC_INTERVAL_SECONDS = 5;

/** Slack for timers and a slow fetch. */
export const PUBLISH_AHEAD_MARGIN_SECONDS = 10;

/** The shortest `signing.publish_ahead` that still covers a JWKS cached for `jwksMaxAgeSeconds`. */
export const minPublishAheadSeconds = (jwksMaxAgeSeconds: number) => jwksMaxAgeSeconds + KEY_SYNC_INTERVAL_SECONDS + PUBLISH_AHEAD_MARGIN_SECONDS;

/** The shortest `signing.publish_ahead` with the default max-age (75 s). */
export const MIN_PUBLISH_AHEAD_SECONDS = minPublishAheadSeconds(DEFAULT_JWKS_MAX_AGE_SECONDS);

/** Longest `signing.publish_ahead`: a key published a day ahead covers any cache worth having. */
export const MAX_PUBLISH_AHEAD_SECONDS = 86400;

/**
 * Default `signing.publish_ahead`: 15 minutes. Beyond the minimum it also
 * covers verifiers that keep a JWKS for 10 minutes whatever it says (jose's
 * default cacheMaxAge, Envoy's default cache_duration) and do not fetch again
 * on an unknown kid, and jose's 30 s refetch cooldown.
 */
export const DEFAULT_PUBLISH_AHEAD_SECONDS = 15 * 60;

/** `signing.publish_ahead` when the config leaves it out: the default, or the minimum if a long max-age needs more. */
export const defaultPublishAheadSeconds = (jwksMaxAgeSeconds: number) => Math.max(DEFAULT_PUBLISH_AHEAD_SECONDS, minPublishAheadSeconds(jwksMaxAgeSeconds));
