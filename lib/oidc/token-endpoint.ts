import { authenticateClient } from './client-auth';
import { DEVICE_CODE_GRANT, OAuthError, renderOAuthError, SlowDownError, UnsupportedGrantTypeError } from './errors';
import { authorizationCodeGrant } from './grants/authorization-code';
import { deviceCodeGrant } from './grants/device-code';
import { FamilyRefusal, refreshGrant } from './grants/refresh';
import { parseForm, TokenRequestSchema, type TokenEndpointDeps } from './grants/shared';
import { secondsSince } from '../metrics';
import { header, type IssuerRequest, type IssuerResponse } from './http';
import { retryAfterSeconds } from './token-throttle';

export type { TokenEndpointDeps } from './grants/shared';

/**
 * POST /oidc/token (RFC 6749 §3.2, OIDC Core §3.1.3): one client
 * authentication and one error renderer for every grant, each grant in its
 * own module (lib/oidc/grants/), dispatched by grant_type.
 */
export async function handleTokenRequest(req: IssuerRequest, deps: TokenEndpointDeps): Promise<IssuerResponse> {
  if (!deps.metrics) return tokenRequest(req, deps, {});
  const start = performance.now();
  const seen: { grantType?: string } = {};
  const res = await tokenRequest(req, deps, seen);
  deps.metrics.tokenRequest(seen.grantType, res.status, secondsSince(start));
  return res;
}

/** `seen` learns the grant_type once the form is read (for the metrics). */
async function tokenRequest(req: IssuerRequest, deps: TokenEndpointDeps, seen: { grantType?: string }): Promise<IssuerResponse> {
  const now = deps.now();
  const admitted = deps.throttle.admitAddress(req.clientIp, now);
  if (!admitted.ok) {
    deps.metrics?.rateLimitedRequest('token_per_address');
    deps.denials.record(
      { reason: 'rate_limited', family_id: null, user_id: null, username: null, cluster: null, session_id: null, client_ip: req.clientIp ?? null, request_id: req.requestId ?? null },
      now,
    );
    return renderOAuthError(new SlowDownError('address', retryAfterSeconds(admitted)), { requestId: req.requestId, log: deps.log, where: 'token endpoint' });
  }
  try {
    const form = parseForm(req, TokenRequestSchema);
    seen.grantType = form.grant_type;
    const client = authenticateClient(header(req, 'authorization'), form, deps.clients);
    switch (form.grant_type) {
      case 'refresh_token':
        return await refreshGrant(req, form, client, deps);
      case 'authorization_code':
        return await authorizationCodeGrant(req, form, client, deps);
      case DEVICE_CODE_GRANT:
        return await deviceCodeGrant(req, form, client, deps);
      default:
        throw new UnsupportedGrantTypeError(form.grant_type);
    }
  } catch (err) {
    // Failures that name no family spend from the address's bucket; the
    // family's own bucket already limits the others, and a 429 or 503 says
    // nothing about the client. A device client polling as told is not failing.
    if (err instanceof OAuthError && err.status < 500 && err.status !== 429 && !(err instanceof FamilyRefusal) && err.error !== 'authorization_pending' && err.error !== 'slow_down') {
      deps.throttle.addressFailed(req.clientIp, deps.now());
    }
    return renderOAuthError(err, { requestId: req.requestId, log: deps.log, where: 'token endpoint' });
  }
}
