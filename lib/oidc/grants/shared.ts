import { z } from 'zod';
import type { ResolvedConfig } from '../../config/load';
import type { Store } from '../../store/types';
import type { Rechecker } from '../../upstream/recheck';
import type { MfaPolicy } from '../../mfa/policy';
import type { Metrics } from '../../metrics';
import type { Logger } from '../../util/log';
import type { OAuthClient } from '../client-auth';
import type { DenialAudit } from '../denial-audit';
import { InvalidRequestError, MethodNotAllowedError, printable, RequestTooLargeError } from '../errors';
import { header, json, MAX_BODY_BYTES, NO_STORE, type IssuerRequest, type IssuerResponse } from '../http';
import type { KeyManager } from '../keys';
import type { RefreshPolicy } from '../refresh-policy';
import type { TokenThrottle } from '../token-throttle';

export interface TokenEndpointDeps {
  issuer: string;
  store: Store;
  keys: KeyManager;
  clients: ReadonlyMap<string, OAuthClient>;
  /** Where each person's current entitlements are read from on every refresh (lib/auth/entitlements.ts); the clusters minted for. */
  config: Pick<ResolvedConfig, 'upstreams' | 'users'> & Partial<Pick<ResolvedConfig, 'clusters'>>;
  /** Re-checks upstream people when their last check is due (lib/upstream/recheck.ts). */
  rechecker: Pick<Rechecker, 'check'>;
  /** Who must have shown a second factor before anything is minted (lib/mfa/policy.ts). */
  mfaPolicy?: MfaPolicy;
  policy: RefreshPolicy;
  idTokenLifetimeSeconds: number;
  /** Server-side key from which successors are derived. */
  refreshKey: Buffer;
  throttle: TokenThrottle;
  /** Refusals are audited through this, coalesced, off the request path. */
  denials: DenialAudit;
  /** Counts refreshes, token requests and rate-limited ones (lib/metrics); absent in tests that do not look. */
  metrics?: Metrics;
  now: () => number;
  log: Logger;
}

/** RFC 6749 §3.2: unknown parameters are ignored; known ones are validated here (each grant checks its own). */
export const TokenRequestSchema = z.object({
  grant_type: z.string({ error: 'grant_type is required' }).min(1, 'grant_type is required'),
  refresh_token: z.string().optional(),
  code: z.string().optional(),
  redirect_uri: z.string().optional(),
  code_verifier: z.string().optional(),
  device_code: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  scope: z.string().optional(),
});

export type TokenForm = z.infer<typeof TokenRequestSchema>;

/** A form-encoded POST body, each parameter once (RFC 6749 §3.2), validated by `schema`. */
export function parseForm<S extends z.ZodType>(req: IssuerRequest, schema: S): z.infer<S> {
  if (req.method !== 'POST') throw new MethodNotAllowedError(['POST']);
  const type = header(req, 'content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
    throw new InvalidRequestError('the body must be application/x-www-form-urlencoded');
  }
  if (Buffer.byteLength(req.body) > MAX_BODY_BYTES) throw new RequestTooLargeError(MAX_BODY_BYTES);
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(req.body)) {
    // RFC 6749 §3.2: parameters MUST NOT be included more than once.
    if (Object.hasOwn(params, k)) throw new InvalidRequestError(`parameter ${printable(k, 40)} is repeated`);
    params[k] = v;
  }
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new InvalidRequestError(first.message.startsWith(String(first.path[0])) ? first.message : `${String(first.path[0])}: ${first.message}`);
  }
  return parsed.data as z.infer<S>;
}

/**
 * Every successful token response (RFC 6749 §5.1): the id_token (also as
 * the access token, which is what kubectl sends to the API server) and a
 * refresh token, always: kubelogin fails without an id_token, and asks for
 * no offline_access yet expects to refresh. Never cached.
 */
export function tokenResponse(idToken: string, refreshToken: string, expiresIn: number): IssuerResponse {
  // A compact JWS and a kgr_ token hold only base64url characters and dots: nothing to escape, so
  // the body is put together directly (it is what JSON.stringify gives for the same object).
  if (JSON_SAFE.test(idToken) && JSON_SAFE.test(refreshToken) && Number.isSafeInteger(expiresIn)) {
    return {
      status: 200,
      headers: TOKEN_RESPONSE_HEADERS,
      body: `{"access_token":"${idToken}","token_type":"Bearer","expires_in":${expiresIn},"id_token":"${idToken}","refresh_token":"${refreshToken}","scope":"openid"}`,
    };
  }
  return json(
    200,
    { access_token: idToken, token_type: 'Bearer', expires_in: expiresIn, id_token: idToken, refresh_token: refreshToken, scope: 'openid' },
    { ...NO_STORE },
  );
}

const JSON_SAFE = /^[A-Za-z0-9_.-]*$/;
/** Shared by every token response: nothing downstream changes a response's headers in place (the adapter copies them). */
const TOKEN_RESPONSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': 'application/json; charset=utf-8', ...NO_STORE });
