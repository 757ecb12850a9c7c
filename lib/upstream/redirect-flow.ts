import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { BoundUpstream } from './registry';
import { asRefusal, auditRefusal, openLoginSession, randomId, type RequestMeta, type SignInDeps } from './sign-in';
import { UpstreamRefusal, type UpstreamSignIn } from './types';

/**
 * The seam's half of redirect protocols next-auth does not speak (SAML).
 *
 *   GET  /api/upstream/<id>/login     connector → 'start': we set the binding cookie, 303 to the IdP
 *   POST /api/upstream/<id>/acs       connector → 'signed_in': a one-time ticket, 303 to …/complete
 *   GET  /api/upstream/<id>/complete  the binding cookie must match the ticket's: login session opened
 *
 * The IdP's answer arrives as a cross-site POST, which carries none of our
 * SameSite cookies, so it cannot be tied to the browser there. The ticket
 * moves it to a same-site top-level GET, where the binding cookie set at the
 * start is sent: an answer captured or injected by someone else cannot sign
 * them, or their victim, in.
 */
export const BINDING_COOKIE = '__Host-kubegate.upstream';
const BINDING_TTL_SECONDS = 10 * 60;
const TICKET_TTL_MS = 60_000;
const TICKET_NS = 'upstream.ticket';
/** Reserved for the seam: no connector action may be called this. */
export const COMPLETE_ACTION = 'complete';

/** A path on this host to return to after sign-in; anything else (another origin, `//evil`, `/\evil`) is '/'. */
export function safeNext(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 2000) return '/';
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  // The URL parser is the judge: it must stay on our origin and keep the same path.
  try {
    const base = 'https://kubegate.invalid';
    const url = new URL(raw, base);
    if (url.origin !== base) return '/';
    return url.pathname + url.search;
  } catch {
    return '/';
  }
}

const BindingCookie = z.object({ b: z.string().min(16).max(200), u: z.string(), n: z.string() });

export function bindingCookieValue(binding: string, upstream: string, next: string): string {
  return Buffer.from(JSON.stringify({ b: binding, u: upstream, n: next })).toString('base64url');
}

export function readBindingCookie(value: string | undefined): z.infer<typeof BindingCookie> | undefined {
  if (!value) return undefined;
  try {
    const parsed = BindingCookie.safeParse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function setCookie(value: string, maxAge: number): string {
  return `${BINDING_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Lax`;
}

const noStore = { 'cache-control': 'no-store' };
const seeOther = (location: string, extra: Record<string, string> = {}) => new Response(null, { status: 303, headers: { location, ...noStore, ...extra } });

export function signInErrorLocation(issuerUrl: string, code: string): string {
  return `${issuerUrl}/login?error=${encodeURIComponent(code)}`;
}

/** Serves a redirect connector's actions (everything but `complete`). */
export async function handleUpstreamAction(
  deps: SignInDeps & { issuerUrl: string },
  bound: BoundUpstream,
  action: string,
  request: Request,
  meta: RequestMeta,
): Promise<Response> {
  const { connector, config } = bound;
  if (connector.flow !== 'redirect') return new Response('Not found', { status: 404, headers: noStore });
  try {
    const step = await connector.handle(config as never, action, request, {
      now: deps.now,
      log: deps.log,
      clientIp: meta.clientIp,
      store: deps.store,
      issuerUrl: deps.issuerUrl,
    });
    switch (step.type) {
      case 'response':
        return step.response;
      case 'start': {
        const next = safeNext(new URL(request.url).searchParams.get('next'));
        return seeOther(step.location, { 'set-cookie': setCookie(bindingCookieValue(step.binding, config.id, next), BINDING_TTL_SECONDS) });
      }
      case 'signed_in': {
        const ticket = randomId();
        const value: TicketValue = { upstream: config.id, binding: step.binding, signIn: step.signIn };
        await deps.store.putEphemeral(TICKET_NS, ticket, JSON.stringify(value), deps.now() + TICKET_TTL_MS, deps.now());
        return seeOther(`${deps.issuerUrl}/api/upstream/${encodeURIComponent(config.id)}/${COMPLETE_ACTION}?ticket=${encodeURIComponent(ticket)}`);
      }
    }
  } catch (err) {
    const refusal = asRefusal(err);
    await auditRefusal(deps, config.id, refusal, meta);
    return seeOther(signInErrorLocation(deps.issuerUrl, refusal.code));
  }
}

interface TicketValue {
  upstream: string;
  binding: string;
  signIn: UpstreamSignIn;
}

/**
 * Redeems a ticket (once) for the browser that holds the matching binding
 * cookie, and opens the login session. Throws UpstreamRefusal otherwise.
 */
export async function redeemTicket(
  deps: SignInDeps,
  bound: BoundUpstream,
  input: { ticket: string; binding?: string },
  meta: RequestMeta,
): Promise<string> {
  const upstream = bound.config.id;
  const raw = await deps.store.takeEphemeral(TICKET_NS, input.ticket, deps.now());
  try {
    if (!raw) throw new UpstreamRefusal('invalid_response', 'the sign-in ticket is unknown, used or expired');
    const value = JSON.parse(raw) as TicketValue;
    const a = Buffer.from(value.binding);
    const b = Buffer.from(input.binding ?? '');
    if (value.upstream !== upstream || a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new UpstreamRefusal('invalid_response', 'the answer was started in another browser (binding cookie missing or different)');
    }
    return await openLoginSession(deps, bound.config, value.signIn, meta);
  } catch (err) {
    const refusal = asRefusal(err);
    await auditRefusal(deps, upstream, refusal, meta);
    throw refusal;
  }
}

export function clearBindingCookie(): string {
  return setCookie('', 0);
}
