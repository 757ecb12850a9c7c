import 'server-only';
import NextAuth, { CredentialsSignin, type NextAuthConfig } from 'next-auth';
import Credentials from 'next-auth/providers/credentials';
import { headers } from 'next/headers';
import { z } from 'zod';
import type { Runtime } from '../runtime';
import { getRuntime } from '../runtime-global';
import { openPasswordlessSession, passwordlessEnabled } from '../mfa/passkey-login';
import { passkeyDeps } from '../portal/passkey-deps';
import { redeemTicket } from '../upstream/redirect-flow';
import { upstreamsOf } from '../upstream/registry';
import { oauthSignIn, passwordSignIn, SignInRefused, type RequestMeta, type SignInDeps } from '../upstream/sign-in';
import { UpstreamRefusal } from '../upstream/types';
import { hostPrefixedCookies } from './cookies';
import { SignInThrottle } from './rate-limit';
import { storeLedger } from './throttle-ledger';

declare module 'next-auth' {
  interface Session {
    /** The server-side login session this browser holds; nothing else lives in the cookie. */
    sid?: string;
  }
}

/** A refused sign-in; its code picks the sign-in page's message (lib/portal/messages.ts). */
class RefusedSignIn extends CredentialsSignin {
  constructor(code: string) {
    super();
    this.code = code;
  }
}

/** The next-auth provider that redeems a redirect connector's one-time ticket (lib/upstream/redirect-flow.ts). */
export const TICKET_PROVIDER = 'kubegate-upstream-ticket';

/** The client address the server entry stamped on the request (never taken from the client). */
async function requestMeta(): Promise<RequestMeta> {
  try {
    const h = await headers();
    return { clientIp: h.get('x-kubegate-client-ip'), userAgent: h.get('user-agent') };
  } catch {
    return { clientIp: null, userAgent: null };
  }
}

const TicketCredentials = z.object({ upstream: z.string().min(1).max(100), ticket: z.string().min(1).max(200), binding: z.string().max(200).optional() });

const configs = new WeakMap<Runtime, NextAuthConfig>();
const signInDepsOf = new WeakMap<Runtime, SignInDeps>();

/** What opening a login session needs, once per runtime (the sign-in throttle shares its counts through the store). */
export function signInDeps(rt: Runtime): SignInDeps {
  let deps = signInDepsOf.get(rt);
  if (!deps) {
    deps = {
      store: rt.store,
      now: rt.now,
      log: rt.log,
      sessionLifetimeMs: rt.config.issuer.session_lifetime * 1000,
      throttle: new SignInThrottle(rt.now, {}, storeLedger(rt.store, 'signin')),
      sealRecheckState: rt.rechecker.sealState,
      metrics: rt.metrics,
    };
    signInDepsOf.set(rt, deps);
  }
  return deps;
}

/** The next-auth provider for a passkey as the whole sign-in of a local account (lib/mfa/passkey-login.ts). */
export const PASSKEY_PROVIDER = 'kubegate-passkey';

/** The Auth.js configuration for this runtime's upstreams, built once. */
export function authConfig(rt: Runtime): NextAuthConfig {
  const cached = configs.get(rt);
  if (cached) return cached;
  const { config, store, now, log } = rt;
  const upstreams = upstreamsOf(config);
  const deps = signInDeps(rt);
  /** Login sessions opened during a sign-in, handed from authorize()/signIn() to the jwt callback. */
  const opened = new WeakMap<object, string>();

  const refuse = (err: unknown): never => {
    if (err instanceof SignInRefused) throw new RefusedSignIn(err.code);
    throw err;
  };

  const providers: NextAuthConfig['providers'] = [];
  for (const bound of upstreams.values()) {
    const { connector, config: u } = bound;
    if (connector.flow === 'oauth') providers.push(connector.provider(u as never) as never);
    if (connector.flow === 'password') {
      providers.push(
        Credentials({
          id: u.id,
          name: u.display_name ?? u.id,
          credentials: { username: { label: 'Username' }, password: { label: 'Password', type: 'password' } },
          async authorize(raw) {
            const sid = await passwordSignIn(deps, bound, raw, await requestMeta()).catch(refuse);
            const user = { id: sid };
            opened.set(user, sid);
            return user;
          },
        }),
      );
    }
  }
  if ([...upstreams.values()].some((b) => b.connector.flow === 'redirect')) {
    providers.push(
      Credentials({
        id: TICKET_PROVIDER,
        name: 'Sign-in ticket',
        credentials: {},
        async authorize(raw) {
          const parsed = TicketCredentials.safeParse(raw);
          if (!parsed.success) throw new RefusedSignIn('invalid_response');
          const bound = upstreams.get(parsed.data.upstream);
          if (!bound) throw new RefusedSignIn('unknown_upstream');
          const sid = await redeemTicket(deps, bound, parsed.data, await requestMeta()).catch((err: unknown) => {
            throw new RefusedSignIn(err instanceof UpstreamRefusal ? err.code : 'invalid_response');
          });
          const user = { id: sid };
          opened.set(user, sid);
          return user;
        },
      }),
    );
  }

  if (passwordlessEnabled(config, upstreams)) {
    providers.push(
      Credentials({
        id: PASSKEY_PROVIDER,
        name: 'Passkey',
        credentials: {},
        async authorize(raw) {
          const sid = await openPasswordlessSession(passkeyDeps(rt), deps, upstreams, raw, await requestMeta()).catch(refuse);
          const user = { id: sid };
          opened.set(user, sid);
          return user;
        },
      }),
    );
  }

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
      // An OAuth/OIDC upstream came back (state, PKCE, nonce and id_token already checked by Auth.js): map
      // the answer through its connector and open the login session, or refuse with a reason the page shows.
      async signIn({ user, account, profile }) {
        if (!account || account.type === 'credentials') return true;
        const bound = upstreams.get(account.provider);
        if (!bound) return '/login?error=unknown_upstream';
        try {
          const sid = await oauthSignIn(deps, bound, { account: { ...account }, profile: { ...(profile ?? {}) } }, await requestMeta());
          opened.set(user, sid);
          return true;
        } catch (err) {
          return `/login?error=${err instanceof SignInRefused ? err.code : 'Default'}`;
        }
      },
      jwt({ token, user, account }) {
        if (account) {
          // The cookie carries the login session's id and nothing else.
          const sid = user ? opened.get(user) : undefined;
          return sid ? { sid } : null;
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
