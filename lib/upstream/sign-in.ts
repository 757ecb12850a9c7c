import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { establishLoginSession } from '../auth/login';
import type { SignInThrottle } from '../auth/rate-limit';
import type { Store } from '../store/types';
import type { Metrics } from '../metrics';
import type { Logger } from '../util/log';
import type { BoundUpstream } from './registry';
import { sessionAmrAtSignIn } from '../mfa/policy';
import { UpstreamRefusal, type ConnectorContext, type OAuthCallback, type RefusalCode, type UpstreamBaseConfig, type UpstreamSignIn } from './types';

/**
 * The one way every upstream kind becomes a login session: a connector
 * proves a first factor and returns an `UpstreamSignIn`; this module
 * throttles password guesses, audits every outcome, and opens the session.
 * Nothing here knows a kind by name.
 */
export interface SignInDeps {
  store: Store;
  now: () => number;
  log: Logger;
  sessionLifetimeMs: number;
  throttle: SignInThrottle;
  /** Seals a connector's re-check state before it is stored (Rechecker.sealState). */
  sealRecheckState?: (person: { upstream: string; subject: string }, state: string) => Promise<string>;
  /** Counts sign-ins by upstream and result (lib/metrics). */
  metrics?: Metrics;
}

export interface RequestMeta {
  clientIp: string | null;
  userAgent: string | null;
}

/** A refusal the sign-in page can explain; `code` selects its message (lib/portal/messages.ts). */
export class SignInRefused extends Error {
  constructor(readonly code: RefusalCode) {
    super(code);
    this.name = 'SignInRefused';
  }
}

const PasswordForm = z.object({
  username: z.string().trim().min(1).max(256),
  password: z.string().max(1024),
});

function ctxOf(deps: SignInDeps, meta: RequestMeta): ConnectorContext {
  return { now: deps.now, log: deps.log, clientIp: meta.clientIp };
}

async function auditRefusal(deps: SignInDeps, upstream: string, refusal: UpstreamRefusal, meta: RequestMeta, username?: string): Promise<void> {
  deps.metrics?.signIn(upstream, refusal.code);
  await deps.store.appendAudit(
    {
      kind: 'session.login_failed',
      username: username ?? null,
      client_ip: meta.clientIp,
      details: { upstream, reason: refusal.code, detail: refusal.detail.slice(0, 300) },
    },
    deps.now(),
  );
  deps.log.warn('sign-in refused', { upstream, reason: refusal.code, detail: refusal.detail.slice(0, 300), username: username ?? null, client_ip: meta.clientIp });
}

/**
 * Opens the login session for a verified first factor; returns its id (the
 * only thing the cookie carries). When the upstream's answer proves a second
 * factor by the values its config trusts, the session's amr says `mfa`.
 */
export async function openLoginSession(deps: SignInDeps, upstream: UpstreamBaseConfig, signIn: UpstreamSignIn, meta: RequestMeta): Promise<string> {
  const { session } = await establishLoginSession(
    { store: deps.store, now: deps.now, log: deps.log, sessionLifetimeMs: deps.sessionLifetimeMs, sealRecheckState: deps.sealRecheckState },
    signIn.identity,
    {
      amr: sessionAmrAtSignIn(upstream, signIn.amr, signIn.acr),
      authTime: signIn.authTime,
      clientIp: meta.clientIp,
      userAgent: meta.userAgent,
      recheckState: signIn.recheckState,
    },
  );
  deps.metrics?.signIn(upstream.id, 'success');
  return session.id;
}

/**
 * A username/password form (local accounts, LDAP). Usernames are throttled
 * case-insensitively per upstream; an empty password is refused before the
 * connector runs (to LDAP an empty password is an anonymous bind, not a login).
 */
export async function passwordSignIn(deps: SignInDeps, bound: BoundUpstream, raw: unknown, meta: RequestMeta): Promise<string> {
  if (bound.connector.flow !== 'password') throw new SignInRefused('bad_credentials');
  const parsed = PasswordForm.safeParse(raw);
  if (!parsed.success || parsed.data.password === '') {
    deps.metrics?.signIn(bound.config.id, 'bad_credentials');
    throw new SignInRefused('bad_credentials');
  }
  const { username, password } = parsed.data;
  const upstream = bound.config.id;
  const account = `${upstream}:${username.toLowerCase()}`;
  await deps.throttle.load(account, meta.clientIp);
  const decision = deps.throttle.attempt(account, meta.clientIp);
  if (!decision.allowed) {
    deps.metrics?.signIn(upstream, 'rate_limited');
    deps.metrics?.rateLimitedRequest(`sign_in_${decision.scope}`);
    // Once per window per throttled key: a flood of refused attempts is not a flood of writes.
    if (decision.audit) {
      await deps.store.appendAudit(
        {
          kind: 'session.login_failed',
          username,
          client_ip: meta.clientIp,
          details: { upstream, reason: 'rate_limited', scope: decision.scope, retry_after_s: Math.ceil(decision.retryAfterMs / 1000), suppressed: decision.suppressed },
        },
        deps.now(),
      );
      deps.log.warn('sign-in throttled', { upstream, username, client_ip: meta.clientIp, scope: decision.scope });
    }
    throw new SignInRefused('rate_limited');
  }
  let signIn: UpstreamSignIn;
  try {
    signIn = await bound.connector.authenticate(bound.config as never, { username, password }, ctxOf(deps, meta));
  } catch (err) {
    const refusal = asRefusal(err);
    // Only a wrong password counts against the budget; an unreachable directory is not a guess.
    if (refusal.code === 'bad_credentials' || refusal.code === 'disabled') await deps.throttle.failed(account, meta.clientIp);
    await auditRefusal(deps, upstream, refusal, meta, username);
    throw new SignInRefused(refusal.code);
  }
  await deps.throttle.succeeded(account, meta.clientIp);
  return openLoginSession(deps, bound.config, signIn, meta);
}

/** The return from an OAuth/OIDC upstream, after next-auth checked state, PKCE, nonce and the id_token. */
export async function oauthSignIn(deps: SignInDeps, bound: BoundUpstream, callback: OAuthCallback, meta: RequestMeta): Promise<string> {
  if (bound.connector.flow !== 'oauth') throw new SignInRefused('invalid_response');
  let signIn: UpstreamSignIn;
  try {
    signIn = await bound.connector.complete(bound.config as never, callback, ctxOf(deps, meta));
  } catch (err) {
    const refusal = asRefusal(err);
    await auditRefusal(deps, bound.config.id, refusal, meta);
    throw new SignInRefused(refusal.code);
  }
  return openLoginSession(deps, bound.config, signIn, meta);
}

/** Anything a connector throws that is not a refusal is an upstream we could not use: logged, never shown. */
export function asRefusal(err: unknown): UpstreamRefusal {
  if (err instanceof UpstreamRefusal) return err;
  return new UpstreamRefusal('unavailable', err instanceof Error ? `${err.name}: ${err.message}` : String(err));
}

export { auditRefusal };

/** Random, unguessable identifiers for tickets and bindings. */
export const randomId = (): string => randomBytes(24).toString('base64url');
