import 'server-only';
import NextAuth, { CredentialsSignin, type NextAuthConfig } from 'next-auth';
import Credentials from 'next-auth/providers/credentials';
import { headers } from 'next/headers';
import { z } from 'zod';
import type { LocalUserConfig, UpstreamConfig } from '../config/schema';
import type { Runtime } from '../runtime';
import { getRuntime } from '../runtime-global';
import { amrFromClaims, IdentityError, identityFromLocalUser, identityFromOidcClaims } from './identity';
import { verifyLocalPassword } from './local';
import { establishLoginSession } from './login';
import { hostPrefixedCookies } from './cookies';
import { SignInThrottle } from './rate-limit';

declare module 'next-auth' {
  interface Session {
    /** The server-side login session this browser holds; nothing else lives in the cookie. */
    sid?: string;
  }
}

class RateLimitedError extends CredentialsSignin {
  override code = 'rate_limited';
}

const LocalCredentials = z.object({
  username: z.string().trim().min(1).max(100),
  password: z.string().min(1).max(1024),
});

/** The client address the server entry stamped on the request (never taken from the client). */
async function requestMeta(): Promise<{ clientIp: string | null; userAgent: string | null }> {
  try {
    const h = await headers();
    return { clientIp: h.get('x-kubegate-client-ip'), userAgent: h.get('user-agent') };
  } catch {
    return { clientIp: null, userAgent: null };
  }
}

function oidcProvider(u: Extract<UpstreamConfig, { type: 'oidc' }>) {
  return {
    id: u.id,
    name: u.display_name ?? u.id,
    type: 'oidc' as const,
    issuer: u.issuer,
    clientId: u.client_id,
    clientSecret: u.client_secret,
    // Authorization code + PKCE, with state and nonce checked on return.
    checks: ['pkce', 'state', 'nonce'] as ('pkce' | 'state' | 'nonce')[],
    authorization: { params: { scope: [...new Set(['openid', 'profile', 'email', ...u.scopes])].join(' ') } },
    ...(u.client_secret ? {} : { client: { token_endpoint_auth_method: 'none' as const } }),
    // Identity mapping happens in the callbacks below, from the raw claims.
    profile: (claims: Record<string, unknown>) => ({ id: String(claims.sub) }),
  };
}

const configs = new WeakMap<Runtime, NextAuthConfig>();

/** The Auth.js configuration for this runtime's upstreams, built once. */
export function authConfig(rt: Runtime): NextAuthConfig {
  const cached = configs.get(rt);
  if (cached) return cached;
  const { config, store, now, log } = rt;
  const upstreams = new Map(config.upstreams.map((u) => [u.id, u]));
  const localUsers = new Map<string, LocalUserConfig>(config.users.map((u) => [u.username, u]));
  const throttle = new SignInThrottle(now);

  const providers: NextAuthConfig['providers'] = config.upstreams.map((u) =>
    u.type === 'oidc'
      ? oidcProvider(u)
      : Credentials({
          id: u.id,
          name: u.display_name ?? 'Local account',
          credentials: { username: { label: 'Username' }, password: { label: 'Password', type: 'password' } },
          async authorize(raw) {
            const parsed = LocalCredentials.safeParse(raw);
            if (!parsed.success) return null;
            const { username, password } = parsed.data;
            const { clientIp } = await requestMeta();
            // Usernames are matched exactly, but throttled case-insensitively: `Root` and `root` share a budget.
            const account = `${u.id}:${username.toLowerCase()}`;
            const decision = throttle.attempt(account, clientIp);
            if (!decision.allowed) {
              // Once per window per throttled key: a flood of refused attempts is not a flood of writes.
              if (decision.audit) {
                await store.appendAudit(
                  {
                    kind: 'session.login_failed',
                    username,
                    client_ip: clientIp,
                    details: { upstream: u.id, reason: 'rate_limited', scope: decision.scope, retry_after_s: Math.ceil(decision.retryAfterMs / 1000), suppressed: decision.suppressed },
                  },
                  now(),
                );
                log.warn('local sign-in throttled', { username, client_ip: clientIp, scope: decision.scope });
              }
              throw new RateLimitedError();
            }
            const user = await verifyLocalPassword(config.users, username, password);
            if (!user) {
              throttle.failed(account, clientIp);
              await store.appendAudit({ kind: 'session.login_failed', username, client_ip: clientIp, details: { upstream: u.id, reason: 'bad_credentials' } }, now());
              log.info('local sign-in failed', { username, client_ip: clientIp });
              return null;
            }
            throttle.succeeded(account, clientIp);
            return { id: user.username };
          },
        }),
  );

  const built: NextAuthConfig = {
    secret: rt.authSecret,
    trustHost: true,
    useSecureCookies: true,
    cookies: hostPrefixedCookies(),
    basePath: '/api/auth',
    session: { strategy: 'jwt', maxAge: config.issuer.session_lifetime },
    pages: { signIn: '/login', error: '/login' },
    providers,
    logger: {
      error: (err) => {
        // A wrong password is not a server error; authorize() already logged and audited it.
        if ((err as { type?: string }).type === 'CredentialsSignin') return;
        const cause = (err as { cause?: { err?: unknown } }).cause?.err ?? err.cause;
        const type = (err as { type?: string }).type ?? err.name;
        log.error('auth error', {
          type,
          message: err.message.slice(0, 300),
          cause: cause instanceof Error ? cause.message.slice(0, 300) : undefined,
        });
        // A sign-in that failed on the way back from the upstream is a failed sign-in too.
        if (type === 'CallbackRouteError' || type === 'OAuthCallbackError' || type === 'InvalidCheck') {
          void requestMeta().then(({ clientIp }) =>
            store.appendAudit({ kind: 'session.login_failed', client_ip: clientIp, details: { reason: type } }, now()),
          ).catch(() => {});
        }
      },
      warn: (code) => log.warn('auth warning', { code }),
      debug: () => {},
    },
    callbacks: {
      // Refuse, with a reason the sign-in page can show, an upstream identity we cannot use.
      async signIn({ account, profile }) {
        const upstream = account && upstreams.get(account.provider);
        if (upstream?.type !== 'oidc') return true;
        try {
          identityFromOidcClaims(upstream, (profile ?? {}) as Record<string, unknown>);
          return true;
        } catch (err) {
          const reason = err instanceof IdentityError ? err.message : String(err);
          log.warn('upstream identity refused', { upstream: upstream.id, reason });
          await store.appendAudit({ kind: 'session.login_failed', details: { upstream: upstream.id, reason } }, now());
          return '/login?error=claims';
        }
      },
      async jwt({ token, account, profile, user }) {
        if (account) {
          const upstream = upstreams.get(account.provider);
          if (!upstream) return null;
          const meta = await requestMeta();
          let identity;
          let amr: string[];
          let authTime: number | undefined;
          if (upstream.type === 'local') {
            const local = user?.id ? localUsers.get(user.id) : undefined;
            if (!local) return null;
            identity = identityFromLocalUser(upstream, local);
            amr = ['pwd'];
          } else {
            const claims = (profile ?? {}) as Record<string, unknown>;
            identity = identityFromOidcClaims(upstream, claims);
            amr = amrFromClaims(claims);
            authTime = typeof claims.auth_time === 'number' ? claims.auth_time * 1000 : undefined;
          }
          const { session } = await establishLoginSession(
            { store, now, log, sessionLifetimeMs: config.issuer.session_lifetime * 1000 },
            identity,
            { amr, authTime, ...meta },
          );
          // The cookie carries the session id and nothing else.
          return { sid: session.id };
        }
        return typeof token.sid === 'string' ? { sid: token.sid } : null;
      },
      session({ session, token }) {
        return { expires: session.expires, sid: typeof token.sid === 'string' ? token.sid : undefined } as typeof session;
      },
    },
  };
  configs.set(rt, built);
  log.debug('auth configuration built', { providers: providers.length });
  return built;
}

export const { handlers, auth, signIn, signOut } = NextAuth(async () => authConfig(await getRuntime()));
