import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Refresh tokens: `kgr_` + 43 base64url characters (256 bits). The prefix
 * lets secret scanners recognise a leaked one. The store keeps only the
 * SHA-256 of a token, so a database dump yields nothing usable.
 *
 * A successor is derived from its parent with a server-side key
 * (HMAC-SHA256), so when a spent token comes back inside the reuse grace
 * window the same successor can be handed out again without ever storing it.
 */
export const REFRESH_TOKEN_PREFIX = 'kgr_';
const FORMAT = /^kgr_[A-Za-z0-9_-]{43}$/;

export function newRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function successorOf(token: string, key: Buffer): string {
  return REFRESH_TOKEN_PREFIX + createHmac('sha256', key).update(token).digest('base64url');
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** Cheap shape check before any database work. */
export function isWellFormedRefreshToken(token: string): boolean {
  return FORMAT.test(token);
}
