import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * CSRF protection for the portal's own POST endpoints (downloads, sign-out):
 * a token bound to the login session (HMAC of its id), checked together
 * with the Origin header. Server actions get Next.js's Origin check too.
 */
export function csrfToken(secret: string, sessionId: string): string {
  // Every portal page puts it into its forms: an HMAC per page view is kept instead (a few per active person, bounded).
  let bySession = memo.get(secret);
  if (!bySession) memo.set(secret, (bySession = new Map()));
  let token = bySession.get(sessionId);
  if (token === undefined) {
    token = createHmac('sha256', secret).update(`csrf:${sessionId}`).digest('base64url');
    if (bySession.size >= MEMO_MAX) bySession.delete(bySession.keys().next().value!);
    bySession.set(sessionId, token);
  }
  return token;
}

const MEMO_MAX = 10_000;
const memo = new Map<string, Map<string, string>>();

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
