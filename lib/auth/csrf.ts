import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF protection for the portal's own POST endpoints (downloads, sign-out):
 * a token bound to the login session (HMAC of its id), checked together
 * with the Origin header. Server actions get Next.js's Origin check too.
 */
export function csrfToken(secret: string, sessionId: string): string {
  return createHmac('sha256', secret).update(`csrf:${sessionId}`).digest('base64url');
}

export function verifyCsrfToken(secret: string, sessionId: string, presented: unknown): boolean {
  if (typeof presented !== 'string') return false;
  const expected = Buffer.from(csrfToken(secret, sessionId));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** True when the request's Origin (or, lacking it, Referer) is the portal's own origin. */
export function isSameOrigin(headers: { get(name: string): string | null }, portalOrigin: string): boolean {
  const origin = headers.get('origin');
  if (origin !== null) return origin === portalOrigin;
  const referer = headers.get('referer');
  if (referer === null) return false;
  try {
    return new URL(referer).origin === portalOrigin;
  } catch {
    return false;
  }
}
