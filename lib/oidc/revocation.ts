import { z } from 'zod';
import { authenticateClient } from './client-auth';
import { OAuthError, renderOAuthError, SlowDownError } from './errors';
import { parseForm, type TokenEndpointDeps } from './grants/shared';
import { header, NO_STORE, type IssuerRequest, type IssuerResponse } from './http';
import { hashRefreshToken, isWellFormedRefreshToken } from './refresh-tokens';
import { retryAfterSeconds } from './token-throttle';

/** RFC 7009 §2.1: `token` is required, `token_type_hint` optional; unknown parameters are ignored. */
export const RevocationRequestSchema = z.object({
  token: z.string({ error: 'token is required' }).min(1, 'token is required'),
  token_type_hint: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
});

/** RFC 7009 §2.2.1: the presented token is of a type this server does not revoke. */
export class UnsupportedTokenTypeError extends OAuthError {
  constructor(description: string) {
    super('unsupported_token_type', description);
  }
}

/** RFC 7009 §2.1: the token was issued to another client; it is left alone. */
export class TokenOfAnotherClientError extends OAuthError {
  constructor() {
    super('unauthorized_client', 'this token was not issued to the authenticated client; nothing was revoked');
  }
}

// A JWS compact serialization: what our access tokens (the id_tokens) look like.
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** RFC 7009 §2.2: success is 200 whether or not there was anything to revoke; the body is ignored. */
const revoked = (): IssuerResponse => ({ status: 200, headers: { ...NO_STORE }, body: '' });

/**
 * POST /oidc/revoke (RFC 7009): a client ends a credential it holds, as
 * kubelogin does on logout. Client authentication is the token endpoint's.
 *
 * - A refresh token (any generation, spent or head: each names its family)
 *   of the authenticated client revokes the whole family ('revoked_by_client',
 *   audited as `family.revoked`); its successors stop refreshing at once.
 * - A refresh token of another client is refused with `unauthorized_client`
 *   and revokes nothing (§2.1: the server verifies the token was issued to
 *   the requesting client, and informs it when that fails).
 * - An unknown, malformed or already revoked token answers 200 (§2.2), so
 *   the endpoint is no oracle for which strings are tokens.
 * - A JWT (our access token is the id_token) answers `unsupported_token_type`
 *   (§2.2.1): an id_token cannot be revoked on its own, and a 200 would tell
 *   the client it was. It expires within `issuer.id_token_lifetime`; revoke
 *   the refresh token to end the credential.
 *
 * `token_type_hint` is only a hint (§2.1): every token is looked up by its
 * shape whatever the hint says. Rate limits are the token endpoint's: a
 * failing address is slowed down, and an unknown token counts as a failure.
 */
export async function handleRevocationRequest(req: IssuerRequest, deps: TokenEndpointDeps): Promise<IssuerResponse> {
  const now = deps.now();
  const admitted = deps.throttle.admitAddress(req.clientIp, now);
  if (!admitted.ok) {
    return renderOAuthError(new SlowDownError('address', retryAfterSeconds(admitted)), { requestId: req.requestId, log: deps.log, where: 'revocation endpoint' });
  }
  try {
    const form = parseForm(req, RevocationRequestSchema);
    const client = authenticateClient(header(req, 'authorization'), form, deps.clients);
    const token = form.token;
    if (!isWellFormedRefreshToken(token)) {
      if (JWT_SHAPE.test(token)) {
        throw new UnsupportedTokenTypeError(
          'only refresh tokens can be revoked here; an id_token (also the access token) cannot be revoked on its own and expires by itself: revoke the refresh token instead',
        );
      }
      deps.throttle.addressFailed(req.clientIp, now);
      return revoked();
    }
    const ctx = await deps.store.findRefreshContext(hashRefreshToken(token));
    if (!ctx) {
      deps.throttle.addressFailed(req.clientIp, now);
      return revoked();
    }
    if (ctx.family.client_id !== client.clientId) throw new TokenOfAnotherClientError();
    if (ctx.family.revoked_at !== null) return revoked();
    const done = await deps.store.revokeFamily(ctx.family.id, 'revoked_by_client', now, {
      kind: 'family.revoked',
      user_id: ctx.user.id,
      username: ctx.user.username,
      cluster: ctx.family.cluster,
      session_id: ctx.session.id,
      client_ip: req.clientIp ?? null,
      request_id: req.requestId ?? null,
      details: { by_client: client.clientId, generation: ctx.token.generation, spent: ctx.token.used_at !== null },
    });
    if (done) deps.log.info('credential revoked by its client', { family_id: ctx.family.id, user: ctx.user.username, client_id: client.clientId, request_id: req.requestId });
    return revoked();
  } catch (err) {
    if (err instanceof OAuthError && err.status < 500 && err.status !== 429) deps.throttle.addressFailed(req.clientIp, deps.now());
    return renderOAuthError(err, { requestId: req.requestId, log: deps.log, where: 'revocation endpoint' });
  }
}
