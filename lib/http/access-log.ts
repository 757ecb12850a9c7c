/**
 * One access-log line per issuer request (config `log.access`, default on):
 * what an operator needs to follow a refresh, never what would let anyone
 * replay one. The path is the matched issuer path, without the query (the
 * authorization endpoint's carries state and PKCE values); the body is never
 * logged, only the token request's grant_type, and only as one of the grant
 * types Kubegate knows; the OAuth error code comes from the response.
 */
import { DEVICE_CODE_GRANT } from '../oidc/errors';
import { ISSUER_PATHS } from '../oidc/discovery';
import type { Logger } from '../util/log';

const KNOWN_GRANTS = new Set(['refresh_token', 'authorization_code', DEVICE_CODE_GRANT]);
const GRANT_TYPE = /(?:^|&)grant_type=([^&]*)/;
const OAUTH_ERROR = /^\{"error":"([a-z_]{1,64})"/;
const MAX_USER_AGENT = 200;

/**
 * The grant_type of a form body, as one of the known grant types, `other`
 * for anything else given, undefined when none is given.
 */
export function grantTypeOf(body: string): string | undefined {
  const m = GRANT_TYPE.exec(body);
  if (!m) return undefined;
  let value: string;
  try {
    value = decodeURIComponent(m[1]!.replace(/\+/g, ' '));
  } catch {
    return 'other';
  }
  return KNOWN_GRANTS.has(value) ? value : 'other';
}

/** The `error` code of an OAuth error response (lib/oidc/errors.ts renders it first), else undefined. */
export function oauthErrorOf(status: number, body: string): string | undefined {
  if (status < 400) return undefined;
  return OAUTH_ERROR.exec(body)?.[1];
}

export interface AccessRecord {
  method: string;
  /** The matched issuer path: never the query. */
  path: string;
  status: number;
  startedAt: number;
  bytes: number;
  clientIp: string | undefined;
  userAgent: string | string[] | undefined;
  requestId: string;
  /** The request body, read only for the token endpoint's grant_type. */
  body: string;
  /** The response body, read only for an error response's `error`. */
  responseBody: string;
  /** The connection was dropped instead of answered. */
  aborted?: boolean;
}

/** The access line's fields (lib/util/log.ts adds time and level). */
export function accessFields(r: AccessRecord, now: number): Record<string, unknown> {
  const ua = Array.isArray(r.userAgent) ? r.userAgent[0] : r.userAgent;
  const fields: Record<string, unknown> = {
    access: true,
    method: r.method,
    path: r.path,
    status: r.status,
    duration_ms: Math.round((now - r.startedAt) * 100) / 100,
    bytes: r.bytes,
    client_ip: r.clientIp,
    user_agent: ua === undefined ? undefined : ua.length > MAX_USER_AGENT ? ua.slice(0, MAX_USER_AGENT) : ua,
    request_id: r.requestId,
  };
  if (r.path === ISSUER_PATHS.token) {
    const grant = grantTypeOf(r.body);
    if (grant) fields.grant_type = grant;
  }
  const error = oauthErrorOf(r.status, r.responseBody);
  if (error) fields.oauth_error = error;
  if (r.aborted) fields.aborted = true;
  return fields;
}

export function logAccess(log: Logger, r: AccessRecord, now: number): void {
  log.info('access', accessFields(r, now));
}
