import { decode } from 'next-auth/jwt';
import { hostPrefixedCookies } from './cookies';

/**
 * The login-session id in the browser's Auth.js session cookie, read the way
 * next-auth's `auth()` reads it, without `auth()`'s cost on every page.
 *
 * In a server component `auth()` runs Auth.js's whole session action: a
 * synthetic Request, the cookie decrypted (HKDF key derivation, a JWK
 * thumbprint, AES-CBC-HMAC), our jwt and session callbacks, then the token
 * encrypted AGAIN to roll its expiry, a cookie header that a server component
 * cannot send (Next drops it), and a JSON round trip. The answer needed here
 * is the `sid` claim of a valid cookie, so this decodes with Auth.js's own
 * `decode` (same secret, same salt: the cookie's name, same algorithms and
 * 15 s clock tolerance) and keeps what a cookie value decoded to. A value
 * decrypts to the same claims every time, so the memo changes no answer; its
 * expiry is checked on every read exactly as jose checks `exp`. Only
 * successful decodes are kept (an attacker's garbage is never remembered)
 * and the memo is bounded. The login session row behind the id is still read
 * and checked on every request (lib/auth/web-session.ts): revocation, idle
 * timeout and offboarding do not depend on this memo.
 */

/** The session cookie's name: also the salt of its encryption key (lib/auth/cookies.ts). */
export const SESSION_COOKIE: string = hostPrefixedCookies().sessionToken.name!;

/** jose's `clockTolerance` in Auth.js's decode: a token is accepted up to this long past its `exp`. */
const CLOCK_TOLERANCE_MS = 15_000;

/** Distinct cookies remembered: a few per active person; the oldest are forgotten first. */
const DEFAULT_MAX_ENTRIES = 10_000;

interface Remembered {
  /** The `sid` claim, when the token carries one as a string (our jwt callback keeps nothing else). */
  sid: string | undefined;
  /** Epoch ms from which the token is expired (its `exp` plus the tolerance). */
  until: number;
}

/** Cookie jar as Next's `cookies()` gives it. */
export interface CookieJar {
  get(name: string): { value: string } | undefined;
  getAll(): Array<{ name: string; value: string }>;
}

/**
 * The session token in a jar: the cookie itself or, if Auth.js had to split
 * a large token, its `.0`, `.1`, … chunks joined in order (as Auth.js's
 * SessionStore reads them). Ours carries only an id and is never split.
 */
export function sessionToken(jar: CookieJar, name = SESSION_COOKIE): string | undefined {
  const whole = jar.get(name)?.value;
  if (whole) return whole;
  const chunks = jar
    .getAll()
    .map((c) => ({ c, i: c.name.startsWith(`${name}.`) ? Number(c.name.slice(name.length + 1)) : NaN }))
    .filter(({ i }) => Number.isInteger(i) && i >= 0)
    .sort((a, b) => a.i - b.i);
  const joined = chunks.map(({ c }) => c.value).join('');
  return joined || undefined;
}

export class SessionCookieReader {
  private readonly memo = new Map<string, Remembered>();

  constructor(
    private readonly secret: string,
    private readonly opts: { now?: () => number; maxEntries?: number; onInvalid?: (err: unknown) => void; name?: string } = {},
  ) {}

  /** The login-session id a session token names, or undefined when the token is absent, invalid or expired. */
  async sessionId(token: string | undefined): Promise<string | undefined> {
    if (!token) return undefined;
    const now = (this.opts.now ?? Date.now)();
    const known = this.memo.get(token);
    if (known) {
      if (now < known.until) return known.sid;
      this.memo.delete(token);
      return undefined;
    }
    let payload: { sid?: unknown; exp?: unknown; nbf?: unknown } | null;
    try {
      payload = await decode<{ sid?: unknown }>({ token, secret: this.secret, salt: this.opts.name ?? SESSION_COOKIE });
    } catch (err) {
      this.opts.onInvalid?.(err);
      return undefined;
    }
    if (!payload) return undefined;
    const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
    // Remember only what an `exp` bounds and nothing else in time can change (Auth.js sets exp, never nbf).
    if (typeof payload.exp === 'number' && payload.nbf === undefined) {
      if (this.memo.size >= (this.opts.maxEntries ?? DEFAULT_MAX_ENTRIES)) this.memo.delete(this.memo.keys().next().value!);
      this.memo.set(token, { sid, until: payload.exp * 1000 + CLOCK_TOLERANCE_MS });
    }
    return sid;
  }

  /** Entries held (for tests). */
  get size(): number {
    return this.memo.size;
  }
}
