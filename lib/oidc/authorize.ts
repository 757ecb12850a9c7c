import { createHash, randomBytes } from 'node:crypto';
import { mayUseCluster } from '../access';
import { mfaRequired, sessionHasMfa, type MfaPolicy } from '../mfa/policy';
import { StoreUnavailableError } from '../store/errors';
import type { LoginSession, Store, User } from '../store/types';
import type { Logger } from '../util/log';
import { OOB_REDIRECT_URI, isWellFormedChallenge, redirectUriAllowed, withResponseParams } from './authorize-redirect';
import type { OAuthClient } from './client-auth';
import { AuthorizeError, printable } from './errors';
import type { IssuerRequest, IssuerResponse } from './http';
import { header, NO_STORE } from './http';

/**
 * The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2), in two
 * halves because the browser's portal session lives in Next.js:
 *
 * 1. GET /oidc/authorize (issuer layer, `handleAuthorizeRequest`) checks the
 *    client and redirect URI (a bad one gets an error page, never a
 *    redirect), then every other parameter (a bad one is sent back to the
 *    client with `error=`), stores the request as a one-time record and
 *    sends the browser to the portal's /authorize/continue.
 * 2. /authorize/continue (portal route, `continueAuthorization`) has the
 *    session: it sends the browser to sign in when there is none (or
 *    `prompt=login`, or `max_age` has passed), otherwise issues a code
 *    bound to client, redirect URI, PKCE challenge, nonce and login session.
 */

export const AUTHORIZE_PATH = '/oidc/authorize';
export const CONTINUE_PATH = '/authorize/continue';

/** A pending authorization request lives this long: time enough to sign in upstream. */
export const REQUEST_TTL_MS = 10 * 60_000;
/** Codes are short-lived (RFC 6749 §4.1.2: "a maximum lifetime of 10 minutes is RECOMMENDED"; one minute is plenty). */
export const CODE_TTL_MS = 60_000;
/** How many times one request may send the browser to sign in before it gives up (no redirect loops). */
const MAX_LOGIN_ROUNDS = 2;

export const NS_REQUEST = 'authz_request';
export const NS_CODE = 'authz_code';

export interface AuthorizeDeps {
  issuer: string;
  store: Store;
  clients: ReadonlyMap<string, OAuthClient>;
  /** For step-up: a cluster can ask for a second factor (`require_mfa`). */
  clusters?: ReadonlyMap<string, { require_mfa?: boolean }>;
  /** Who must have shown a second factor (config `mfa`). */
  mfaPolicy?: MfaPolicy;
  now: () => number;
  log: Logger;
}

/** What is kept between the two halves (the one-time record's value). */
export interface PendingAuthorization {
  client_id: string;
  redirect_uri: string;
  scope: string;
  state?: string;
  nonce?: string;
  code_challenge?: string;
  prompt?: 'none' | 'login';
  max_age?: number;
  login_hint?: string;
  created_at: number;
  /** Times this request has sent the browser to sign in. */
  logins: number;
}

/** A code's record, keyed by the code's SHA-256 (a database dump yields no usable code). */
export interface CodeRecord {
  status: 'issued' | 'redeemed' | 'replayed';
  client_id: string;
  redirect_uri: string;
  scope: string;
  code_challenge?: string;
  nonce?: string;
  session_id: string;
  user_id: string;
  expires_at: number;
  /** Once redeemed: the family it produced, revoked if the code comes back. */
  family_id?: string;
}

export const CODE_PREFIX = 'kgc_';
const CODE_FORMAT = /^kgc_[A-Za-z0-9_-]{43}$/;

export function hashCode(code: string): string {
  return createHash('sha256').update(code).digest('base64url');
}

export function isWellFormedCode(code: string): boolean {
  return CODE_FORMAT.test(code);
}

const MAX_PARAM = 2048;

/** Parameters read from the query; OIDC Core §3.1.2.1 and RFC 7636 §4.3. */
const KNOWN = [
  'client_id',
  'redirect_uri',
  'response_type',
  'response_mode',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'max_age',
  'login_hint',
  'request',
  'request_uri',
] as const;
type Known = (typeof KNOWN)[number];

function html(status: number, title: string, message: string): IssuerResponse {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      ...NO_STORE,
      // No script, no style, no frame: the page is text.
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1><p>${esc(message)}</p></main></body></html>`,
  };
}

/** The page for a request that cannot be sent back: its client or redirect URI is not to be trusted. */
export function authorizeErrorPage(message: string, status = 400): IssuerResponse {
  return html(status, 'This sign-in request cannot be completed', message);
}

function redirect(location: string): IssuerResponse {
  return { status: 302, headers: { location, ...NO_STORE, 'referrer-policy': 'no-referrer' }, body: '' };
}

/** The error response sent to the client (RFC 6749 §4.1.2.1), with `iss` (RFC 9207). */
export function errorRedirect(issuer: string, redirectUri: string, err: AuthorizeError, state: string | undefined): string {
  return withResponseParams(redirectUri, { error: err.error, error_description: printable(err.description, 200), state, iss: issuer });
}

function readQuery(url: string | undefined): { params: Partial<Record<Known, string>>; repeated: Known[] } {
  const q = url?.indexOf('?') ?? -1;
  const search = new URLSearchParams(q < 0 || !url ? '' : url.slice(q + 1));
  const params: Partial<Record<Known, string>> = {};
  const repeated: Known[] = [];
  for (const [k, v] of search) {
    if (!(KNOWN as readonly string[]).includes(k)) continue; // RFC 6749 §3.1: unknown parameters are ignored
    const key = k as Known;
    if (Object.hasOwn(params, key)) repeated.push(key);
    params[key] = v;
  }
  return { params, repeated };
}

/** Validates everything but client and redirect URI; throws AuthorizeError (sent back to the client). */
function validate(p: Partial<Record<Known, string>>, repeated: Known[], client: OAuthClient): Omit<PendingAuthorization, 'created_at' | 'logins' | 'client_id' | 'redirect_uri'> {
  if (repeated.length) throw new AuthorizeError('invalid_request', `parameter ${repeated[0]} is repeated`);
  for (const k of KNOWN) if ((p[k]?.length ?? 0) > MAX_PARAM) throw new AuthorizeError('invalid_request', `${k} is longer than ${MAX_PARAM} characters`);
  if (p.request !== undefined) throw new AuthorizeError('request_not_supported', 'request objects are not supported');
  if (p.request_uri !== undefined) throw new AuthorizeError('request_uri_not_supported', 'request_uri is not supported');
  if (p.response_type !== 'code') {
    if (p.response_type === undefined) throw new AuthorizeError('invalid_request', 'response_type is required');
    throw new AuthorizeError('unsupported_response_type', `response_type ${printable(p.response_type)} is not supported; use code`);
  }
  if (p.response_mode !== undefined && p.response_mode !== 'query') throw new AuthorizeError('invalid_request', 'response_mode must be query');
  const scopes = (p.scope ?? '').split(' ').filter(Boolean);
  if (!scopes.includes('openid')) throw new AuthorizeError('invalid_scope', 'scope must include openid');
  // RFC 7636 §4.3: no method means `plain`, which tells an eavesdropper the verifier. S256 only.
  const method = p.code_challenge_method;
  if (p.code_challenge !== undefined || method !== undefined) {
    if (method !== 'S256') throw new AuthorizeError('invalid_request', `code_challenge_method must be S256${method ? ` (got ${printable(method)})` : ''}`);
    if (p.code_challenge === undefined) throw new AuthorizeError('invalid_request', 'code_challenge is required with code_challenge_method');
    if (!isWellFormedChallenge(p.code_challenge)) throw new AuthorizeError('invalid_request', 'code_challenge must be 43 base64url characters (S256)');
  } else if (client.clientSecret === undefined) {
    throw new AuthorizeError('invalid_request', 'code_challenge is required for a public client (PKCE, RFC 7636, method S256)');
  }
  let prompt: 'none' | 'login' | undefined;
  if (p.prompt !== undefined) {
    const values = p.prompt.split(' ').filter(Boolean);
    if (values.includes('none') && values.length > 1) throw new AuthorizeError('invalid_request', 'prompt=none cannot be combined with other values');
    for (const v of values) if (!['none', 'login', 'consent', 'select_account'].includes(v)) throw new AuthorizeError('invalid_request', `prompt value ${printable(v)} is not supported`);
    // consent and select_account ask for screens this provider does not have: nothing to do.
    prompt = values.includes('none') ? 'none' : values.includes('login') ? 'login' : undefined;
  }
  let maxAge: number | undefined;
  if (p.max_age !== undefined) {
    if (!/^\d{1,9}$/.test(p.max_age)) throw new AuthorizeError('invalid_request', 'max_age must be a whole number of seconds');
    maxAge = Number(p.max_age);
  }
  return {
    scope: scopes.join(' '),
    ...(p.state !== undefined ? { state: p.state } : {}),
    ...(p.nonce !== undefined ? { nonce: p.nonce } : {}),
    ...(p.code_challenge !== undefined ? { code_challenge: p.code_challenge } : {}),
    ...(prompt ? { prompt } : {}),
    ...(maxAge !== undefined ? { max_age: maxAge } : {}),
    ...(p.login_hint ? { login_hint: p.login_hint } : {}),
  };
}

/** GET (or POST) /oidc/authorize. Never throws: every outcome is a page or a redirect. */
export async function handleAuthorizeRequest(req: IssuerRequest, deps: AuthorizeDeps): Promise<IssuerResponse> {
  // OIDC Core §3.1.2.1: GET with a query, or POST with a form body.
  const isForm = /^application\/x-www-form-urlencoded\s*(;|$)/i.test(header(req, 'content-type') ?? '');
  if (req.method !== 'GET' && req.method !== 'HEAD' && !(req.method === 'POST' && isForm)) {
    const res = authorizeErrorPage('The authorization endpoint answers GET, or POST with a form body.', 405);
    return { ...res, headers: { ...res.headers, allow: 'GET, HEAD, POST' } };
  }
  const { params: p, repeated } = readQuery(req.method === 'POST' ? `?${req.body}` : req.url);
  // First the client and its redirect URI: until both are trusted, nothing may be redirected (RFC 6749 §4.1.2.1).
  if (repeated.includes('client_id') || repeated.includes('redirect_uri')) return authorizeErrorPage('client_id and redirect_uri must each be given once.');
  if (!p.client_id) return authorizeErrorPage('The request names no client (client_id is missing).');
  const client = deps.clients.get(p.client_id);
  if (!client) return authorizeErrorPage('The request names a client this Kubegate does not know. Check --oidc-client-id: it must be a cluster\'s client_id.');
  if (!p.redirect_uri) return authorizeErrorPage('The request has no redirect_uri.');
  if (!redirectUriAllowed(client, p.redirect_uri)) {
    return authorizeErrorPage(
      client.native
        ? 'The redirect_uri is not allowed for this client: use http://localhost, http://127.0.0.1 or http://[::1] on any port, or a registered URI.'
        : 'The redirect_uri is not one registered for this client.',
    );
  }
  const redirectUri = p.redirect_uri;
  const state = p.state;
  try {
    const checked = validate(p, repeated, client);
    const now = deps.now();
    const pending: PendingAuthorization = { client_id: client.clientId, redirect_uri: redirectUri, ...checked, created_at: now, logins: 0 };
    const id = randomBytes(32).toString('base64url');
    await deps.store.putEphemeral(NS_REQUEST, id, JSON.stringify(pending), now + REQUEST_TTL_MS, now);
    return redirect(`${deps.issuer}${CONTINUE_PATH}?request=${id}`);
  } catch (err) {
    if (err instanceof AuthorizeError) {
      if (redirectUri === OOB_REDIRECT_URI) return authorizeErrorPage(`${err.error}: ${err.description}`);
      return redirect(errorRedirect(deps.issuer, redirectUri, err, state));
    }
    if (err instanceof StoreUnavailableError) return redirect(errorRedirect(deps.issuer, redirectUri, new AuthorizeError('temporarily_unavailable', 'storage is unavailable; try again'), state));
    deps.log.error('authorization request failed', { request_id: req.requestId, error: err instanceof Error ? err.message : String(err) });
    return redirect(errorRedirect(deps.issuer, redirectUri, new AuthorizeError('server_error', 'internal error'), state));
  }
}

/** What /authorize/continue does next. */
export type ContinueOutcome =
  /** Back to the client: a code, or an error. */
  | { kind: 'redirect'; location: string }
  /** To the portal's sign-in, which returns to `next` afterwards. */
  | { kind: 'login'; location: string }
  /** The out-of-band redirect URI: show the code for the person to paste. */
  | { kind: 'show_code'; code: string; cluster: string; clientId: string }
  | { kind: 'error'; status: number; message: string };

export interface BrowserSession {
  session: LoginSession;
  /** As entitled now (current groups). */
  user: User;
}

/** The sign-in page, with the way back (relative: the login page accepts only those). */
export function loginLocation(requestId: string, p: Pick<PendingAuthorization, 'prompt' | 'max_age' | 'login_hint'>, forceLogin: boolean): string {
  const q = new URLSearchParams({ next: `${CONTINUE_PATH}?request=${requestId}` });
  if (forceLogin) q.set('prompt', 'login');
  if (p.login_hint) q.set('login_hint', p.login_hint);
  return `/login?${q.toString()}`;
}

/**
 * The second half: the browser is back at the portal, with or without a
 * session. `requestId` comes from the query string (untrusted).
 */
export async function continueAuthorization(
  deps: AuthorizeDeps,
  requestId: string | null,
  browser: BrowserSession | undefined,
  meta: { clientIp?: string | null } = {},
): Promise<ContinueOutcome> {
  const expired = { kind: 'error', status: 400, message: 'This sign-in request has expired or was already used. Start again from your terminal (kubectl).' } as const;
  if (!requestId || !/^[A-Za-z0-9_-]{43}$/.test(requestId)) return expired;
  const now = deps.now();
  const raw = await deps.store.getEphemeral(NS_REQUEST, requestId, now);
  if (raw === undefined) return expired;
  const pending = JSON.parse(raw) as PendingAuthorization;
  const client = deps.clients.get(pending.client_id);
  if (!client) return expired; // removed from the config since
  const back = (err: AuthorizeError): ContinueOutcome => {
    void deps.store.takeEphemeral(NS_REQUEST, requestId, now).catch(() => {});
    if (pending.redirect_uri === OOB_REDIRECT_URI) return { kind: 'error', status: 400, message: `${err.error}: ${err.description}` };
    return { kind: 'redirect', location: errorRedirect(deps.issuer, pending.redirect_uri, err, pending.state) };
  };

  // A sign-in made after the request (created_at, not auth_time: an upstream may report the time of its own older session).
  const fresh = browser && browser.session.created_at >= pending.created_at;
  const tooOld = browser && pending.max_age !== undefined && now - browser.session.auth_time > pending.max_age * 1000;
  const needLogin = !browser || (pending.prompt === 'login' && !fresh) || (tooOld && !fresh);
  if (needLogin) {
    if (pending.prompt === 'none') return back(new AuthorizeError('login_required', browser ? 'the sign-in is older than max_age' : 'you are not signed in to Kubegate'));
    if (pending.logins >= MAX_LOGIN_ROUNDS) return back(new AuthorizeError('login_required', 'sign-in did not complete'));
    const next = JSON.stringify({ ...pending, logins: pending.logins + 1 });
    if (!(await deps.store.replaceEphemeral(NS_REQUEST, requestId, raw, next, now))) return expired;
    return { kind: 'login', location: loginLocation(requestId, pending, browser !== undefined) };
  }
  // A second factor the policy or the cluster asks for, and this session has not shown: step-up, then back here.
  const cluster = deps.clusters?.get(client.cluster);
  if (deps.mfaPolicy && mfaRequired(deps.mfaPolicy, browser!.user.groups, cluster) && !sessionHasMfa(browser!.session)) {
    return { kind: 'login', location: `${deps.issuer}/mfa?next=${encodeURIComponent(`/authorize/continue?request=${requestId}`)}` };
  }
  // The request is used up here, whatever comes next: one request, one code.
  if ((await deps.store.takeEphemeral(NS_REQUEST, requestId, now)) === undefined) return expired;
  const { session, user } = browser!;
  if (!mayUseCluster({ allowed_groups: [...client.allowedGroups] }, user.groups)) {
    return back(new AuthorizeError('access_denied', `your groups do not give you access to cluster ${client.cluster}`));
  }
  const code = CODE_PREFIX + randomBytes(32).toString('base64url');
  const record: CodeRecord = {
    status: 'issued',
    client_id: client.clientId,
    redirect_uri: pending.redirect_uri,
    scope: pending.scope,
    ...(pending.code_challenge ? { code_challenge: pending.code_challenge } : {}),
    ...(pending.nonce !== undefined ? { nonce: pending.nonce } : {}),
    session_id: session.id,
    user_id: user.id,
    expires_at: now + CODE_TTL_MS,
  };
  await deps.store.putEphemeral(NS_CODE, hashCode(code), JSON.stringify(record), record.expires_at, now);
  deps.log.info('authorization code issued', { client_id: client.clientId, cluster: client.cluster, user: user.username, client_ip: meta.clientIp ?? undefined });
  if (pending.redirect_uri === OOB_REDIRECT_URI) return { kind: 'show_code', code, cluster: client.cluster, clientId: client.clientId };
  return { kind: 'redirect', location: withResponseParams(pending.redirect_uri, { code, state: pending.state, iss: deps.issuer }) };
}
