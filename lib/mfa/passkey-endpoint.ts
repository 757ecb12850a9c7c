import { z } from 'zod';
import { isSameOrigin, verifyCsrfToken } from '../auth/csrf';
import type { LoginSession, User } from '../store/types';
import { safeNext } from '../upstream/redirect-flow';
import {
  AuthenticationResponseSchema,
  authenticationOptions,
  PasskeyNameSchema,
  RegistrationResponseSchema,
  registrationOptions,
  verifyAuthentication,
  verifyRegistration,
  type PasskeyDeps,
  type PasskeyRefusal,
} from './webauthn';

/**
 * The passkey ceremonies' JSON endpoints, POST /api/passkeys/<action>, framework-free
 * (web Request in, Response out). Custom POST routes get no Origin check
 * from Next, so each request must come from the portal's own origin and carry
 * the session-bound CSRF token; every answer is no-store.
 */
export const PASSKEY_ACTIONS = ['register-options', 'register', 'authenticate-options', 'authenticate'] as const;
export type PasskeyAction = (typeof PASSKEY_ACTIONS)[number];

export interface PasskeyEndpointContext {
  deps: PasskeyDeps;
  authSecret: string;
  session: LoginSession;
  user: User;
  clientIp: string | null;
}

/** What the browser shows for each refusal (the client components show `message` as is). */
export const PASSKEY_MESSAGES: Record<PasskeyRefusal | 'bad_request' | 'not_from_portal' | 'session_ended', string> = {
  refused: 'That passkey was not accepted. Try again, or use a code from your authenticator app or a recovery code.',
  no_challenge: 'The passkey prompt expired. Try again.',
  rate_limited: 'Too many failed attempts. Wait a few minutes before trying again.',
  not_allowed: 'To add a passkey, first verify with a second factor you already have.',
  already_registered: 'This passkey is registered already.',
  no_passkeys: 'You have no passkeys yet.',
  bad_request: 'The request was not understood. Reload the page and try again.',
  not_from_portal: 'This request did not come from the Kubegate portal. Reload the page and try again.',
  session_ended: 'Your session has ended. Sign in again.',
};

const STATUS: Record<keyof typeof PASSKEY_MESSAGES, number> = {
  refused: 400,
  no_challenge: 400,
  rate_limited: 429,
  not_allowed: 403,
  already_registered: 409,
  no_passkeys: 404,
  bad_request: 400,
  not_from_portal: 403,
  session_ended: 401,
};

const MAX_BODY = 64 * 1024;

const Csrf = { csrf: z.string().min(1).max(200) };
const BODIES = {
  'register-options': z.strictObject(Csrf),
  register: z.strictObject({ ...Csrf, name: PasskeyNameSchema, response: RegistrationResponseSchema, next: z.string().max(2000).optional() }),
  'authenticate-options': z.strictObject(Csrf),
  authenticate: z.strictObject({ ...Csrf, response: AuthenticationResponseSchema, next: z.string().max(2000).optional() }),
} satisfies Record<PasskeyAction, z.ZodType>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers } });
}

export function refusal(code: keyof typeof PASSKEY_MESSAGES, extra: { retryAfterSeconds?: number; issues?: string[] } = {}): Response {
  const headers: Record<string, string> = extra.retryAfterSeconds ? { 'retry-after': String(extra.retryAfterSeconds) } : {};
  return json(STATUS[code], { error: code, message: PASSKEY_MESSAGES[code], ...(extra.issues ? { issues: extra.issues } : {}) }, headers);
}

export function isPasskeyAction(action: string): action is PasskeyAction {
  return (PASSKEY_ACTIONS as readonly string[]).includes(action);
}

/** Reads and validates the body; a refusal names the fields that were wrong. */
async function body<A extends PasskeyAction>(req: Request, action: A): Promise<z.infer<(typeof BODIES)[A]> | Response> {
  if (!(req.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json')) return refusal('bad_request', { issues: ['content-type: must be application/json'] });
  const text = await req.text().catch(() => '');
  if (text.length > MAX_BODY) return refusal('bad_request', { issues: ['body: too large'] });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return refusal('bad_request', { issues: ['body: not JSON'] });
  }
  const parsed = BODIES[action].safeParse(raw);
  if (!parsed.success) return refusal('bad_request', { issues: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`) });
  return parsed.data as z.infer<(typeof BODIES)[A]>;
}

export async function handlePasskeyAction(req: Request, action: PasskeyAction, ctx: PasskeyEndpointContext): Promise<Response> {
  if (!isSameOrigin(req.headers, ctx.deps.rp.origin)) return refusal('not_from_portal');
  const input = await body(req, action);
  if (input instanceof Response) return input;
  if (!verifyCsrfToken(ctx.authSecret, ctx.session.id, input.csrf)) return refusal('not_from_portal');
  const { deps, user, session } = ctx;
  const meta = { clientIp: ctx.clientIp };
  switch (action) {
    case 'register-options': {
      const options = await registrationOptions(deps, user, session);
      return options ? json(200, options) : refusal('not_allowed');
    }
    case 'authenticate-options': {
      const options = await authenticationOptions(deps, user, session);
      return options ? json(200, options) : refusal('no_passkeys');
    }
    case 'register': {
      const { name, response, next } = input as z.infer<(typeof BODIES)['register']>;
      const result = await verifyRegistration(deps, user, session, { name, response }, meta);
      if (!result.ok) return refusal(result.reason, { retryAfterSeconds: result.retryAfterSeconds });
      return json(200, { ok: true, next: safeNext(next), recoveryCodes: result.recoveryCodes ?? null });
    }
    case 'authenticate': {
      const { response, next } = input as z.infer<(typeof BODIES)['authenticate']>;
      const result = await verifyAuthentication(deps, user, session, response, meta);
      if (!result.ok) return refusal(result.reason, { retryAfterSeconds: result.retryAfterSeconds });
      return json(200, { ok: true, next: safeNext(next) });
    }
  }
}
