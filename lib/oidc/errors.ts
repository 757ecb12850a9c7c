import { StoreUnavailableError } from '../store/errors';
import { AppError } from '../util/errors';
import type { Logger } from '../util/log';
import { json, NO_STORE, type IssuerResponse } from './http';

/**
 * OAuth 2.0 errors (RFC 6749 §5.2), named after the spec's codes, each
 * carrying its HTTP status and headers. One function (renderOAuthError,
 * below) turns any thrown value into the issuer's response: the token
 * endpoint, the issuer routes and the node:http adapter all use it.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'unauthorized_client'
  | 'invalid_scope'
  | 'unsupported_response_type'
  | 'access_denied'
  | 'login_required'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  | 'authorization_pending'
  | 'expired_token'
  | 'slow_down'
  | 'temporarily_unavailable'
  | 'server_error';

export class OAuthError extends AppError {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(error, description, options);
  }
}

/**
 * RFC 6749 §5.2: error_description is printable ASCII without `"` and `\`.
 * Anything else (from a request value quoted back) becomes `?`.
 */
export function printable(s: string, max = 64): string {
  return s.slice(0, max).replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');
}

const seconds = (n: number) => `${n} second${n === 1 ? '' : 's'}`;

export class InvalidRequestError extends OAuthError {
  constructor(description: string) {
    super('invalid_request', description);
  }
}

export class MethodNotAllowedError extends OAuthError {
  constructor(allowed: readonly string[]) {
    super('invalid_request', `this endpoint accepts only ${allowed.join(' and ')}`, 405, { allow: allowed.join(', ') });
  }
}

/** The body is larger than we read. `connection: close`: what is left of it is not read. */
export class RequestTooLargeError extends OAuthError {
  constructor(limitBytes: number) {
    super('invalid_request', `the request body is larger than ${limitBytes} bytes`, 413, { connection: 'close' });
  }
}

/** The body did not arrive in time (a slow or stalled client). */
export class RequestTimeoutError extends OAuthError {
  constructor(timeoutMs: number) {
    super('invalid_request', `the request body did not arrive within ${seconds(Math.ceil(timeoutMs / 1000))}`, 408, { connection: 'close' });
  }
}

export class InvalidClientError extends OAuthError {
  /** `challenge`: the client tried HTTP Basic, so answer 401 with a Basic challenge (RFC 6749 §5.2). */
  constructor(description: string, challenge: boolean) {
    super('invalid_client', description, 401, challenge ? { 'www-authenticate': 'Basic realm="kubegate"' } : {});
  }
}

export class InvalidGrantError extends OAuthError {
  constructor(description: string) {
    super('invalid_grant', description);
  }
}

export class UnsupportedGrantTypeError extends OAuthError {
  constructor(grantType: string) {
    super('unsupported_grant_type', `grant_type ${printable(grantType)} is not supported; use authorization_code, refresh_token or ${DEVICE_CODE_GRANT}`);
  }
}

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * The device grant's polling answers (RFC 8628 §3.5): plain 400s the client
 * reads by code. `slow_down` here is the RFC's "add 5 seconds to your
 * interval", not the 429 rate limit below.
 */
export class DevicePollError extends OAuthError {
  constructor(error: 'authorization_pending' | 'slow_down' | 'expired_token' | 'access_denied', description: string) {
    super(error, description);
  }
}

/** An authorization-endpoint refusal, sent back to the client's redirect URI (RFC 6749 §4.1.2.1). */
export class AuthorizeError extends OAuthError {
  constructor(
    error: Extract<OAuthErrorCode, 'invalid_request' | 'unauthorized_client' | 'access_denied' | 'unsupported_response_type' | 'invalid_scope' | 'server_error' | 'temporarily_unavailable' | 'login_required' | 'request_not_supported' | 'request_uri_not_supported'>,
    description: string,
  ) {
    super(error, description, 302);
  }
}

/**
 * 429 (RFC 6585 §4) with Retry-After. The code is RFC 8628's `slow_down`,
 * the registered OAuth error for "the client is asking too often".
 */
export class SlowDownError extends OAuthError {
  constructor(
    readonly scope: 'credential' | 'address',
    readonly retryAfterSeconds: number,
  ) {
    super(
      'slow_down',
      scope === 'credential'
        ? `too many token requests for this credential; retry in ${seconds(retryAfterSeconds)}`
        : `too many failed token requests from your address; retry in ${seconds(retryAfterSeconds)}`,
      429,
      { 'retry-after': String(retryAfterSeconds) },
    );
  }
}

/** 503 with Retry-After (RFC 6749 §4.1.2.1's code): nothing was changed, try again. */
export class TemporarilyUnavailableError extends OAuthError {
  constructor(readonly retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(
      'temporarily_unavailable',
      `the token service cannot reach its storage right now; nothing was changed, retry in ${seconds(retryAfterSeconds)}`,
      503,
      { 'retry-after': String(retryAfterSeconds) },
      options,
    );
  }
}

/** How long a client should wait for each kind of storage trouble to clear. */
export function retryAfterFor(reason: StoreUnavailableError['reason']): number {
  return reason === 'busy' || reason === 'timeout' ? 2 : 30;
}

/**
 * The one place an issuer error becomes a response: `{error,
 * error_description}` (RFC 6749 §5.2), never cached. A StoreUnavailableError
 * is 503 `temporarily_unavailable`. Anything else is a bug: logged with the
 * request id, answered with a generic 500 that names only the request id.
 */
export function renderOAuthError(err: unknown, ctx: { requestId?: string; log: Logger; where: string }): IssuerResponse {
  let e: OAuthError;
  if (err instanceof OAuthError) e = err;
  else if (err instanceof StoreUnavailableError) {
    ctx.log.warn('storage unavailable', { where: ctx.where, request_id: ctx.requestId, reason: err.reason, error: err.message });
    e = new TemporarilyUnavailableError(retryAfterFor(err.reason));
  } else {
    ctx.log.error(`${ctx.where} failed`, { request_id: ctx.requestId, error: err instanceof Error ? err.message : String(err) });
    const ref = ctx.requestId ? ` (request id ${printable(ctx.requestId)})` : '';
    e = new OAuthError('server_error', `internal error${ref}`, 500);
  }
  return json(e.status, { error: e.error, error_description: e.description }, { ...NO_STORE, ...e.headers });
}
