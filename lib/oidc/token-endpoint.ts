import { z } from 'zod';
import type { Store } from '../store/types';
import type { Logger } from '../util/log';
import { authenticateClient, type OAuthClient } from './client-auth';
import { InvalidGrantError, InvalidRequestError, OAuthError, UnsupportedGrantTypeError } from './errors';
import { header, json, MAX_BODY_BYTES, NO_STORE, type IssuerRequest, type IssuerResponse } from './http';
import { idTokenClaims, signIdToken } from './id-token';
import type { KeyManager } from './keys';
import { decideRefresh, describe, type RefreshPolicy } from './refresh-policy';
import { hashRefreshToken, isWellFormedRefreshToken, successorOf } from './refresh-tokens';

export interface TokenEndpointDeps {
  issuer: string;
  store: Store;
  keys: KeyManager;
  clients: ReadonlyMap<string, OAuthClient>;
  policy: RefreshPolicy;
  idTokenLifetimeSeconds: number;
  /** Server-side key from which successors are derived. */
  refreshKey: Buffer;
  now: () => number;
  log: Logger;
}

/** RFC 6749 §3.2: unknown parameters are ignored; known ones are validated here. */
const TokenRequestSchema = z.object({
  grant_type: z.string({ error: 'grant_type is required' }).min(1, 'grant_type is required'),
  refresh_token: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  scope: z.string().optional(),
});

function parseForm(req: IssuerRequest): z.infer<typeof TokenRequestSchema> {
  if (req.method !== 'POST') throw new OAuthError('invalid_request', 'the token endpoint accepts only POST', 405, { allow: 'POST' });
  const type = header(req, 'content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
    throw new InvalidRequestError('the body must be application/x-www-form-urlencoded');
  }
  if (Buffer.byteLength(req.body) > MAX_BODY_BYTES) throw new InvalidRequestError('request body too large', 413);
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(req.body)) {
    // RFC 6749 §3.2: parameters MUST NOT be included more than once.
    if (Object.hasOwn(params, k)) throw new InvalidRequestError(`parameter ${JSON.stringify(k.slice(0, 40))} is repeated`);
    params[k] = v;
  }
  const parsed = TokenRequestSchema.safeParse(params);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new InvalidRequestError(first.message.startsWith(String(first.path[0])) ? first.message : `${String(first.path[0])}: ${first.message}`);
  }
  return parsed.data;
}

function errorResponse(err: OAuthError): IssuerResponse {
  return json(err.status, { error: err.error, error_description: err.description }, { ...NO_STORE, ...err.headers });
}

/**
 * POST /oidc/token (RFC 6749 §6, OIDC Core §12): the refresh grant kubectl
 * uses every id_token lifetime. One read, one atomic write, one signature.
 */
export async function handleTokenRequest(req: IssuerRequest, deps: TokenEndpointDeps): Promise<IssuerResponse> {
  try {
    return await refreshGrant(req, deps);
  } catch (err) {
    if (err instanceof OAuthError) return errorResponse(err);
    deps.log.error('token endpoint failed', { request_id: req.requestId, error: err instanceof Error ? err.message : String(err) });
    return json(500, { error: 'server_error', error_description: 'internal error' }, { ...NO_STORE });
  }
}

async function refreshGrant(req: IssuerRequest, deps: TokenEndpointDeps): Promise<IssuerResponse> {
  const form = parseForm(req);
  const client = authenticateClient(header(req, 'authorization'), form, deps.clients);
  if (form.grant_type !== 'refresh_token') throw new UnsupportedGrantTypeError(form.grant_type);
  if (!form.refresh_token) throw new InvalidRequestError('refresh_token is required');
  const token = form.refresh_token;
  if (!isWellFormedRefreshToken(token)) throw new InvalidGrantError('the refresh token is invalid');

  const now = deps.now();
  const tokenHash = hashRefreshToken(token);
  const ctx = await deps.store.findRefreshContext(tokenHash);
  if (!ctx) throw new InvalidGrantError('the refresh token is invalid');

  const audit = {
    user_id: ctx.user.id,
    username: ctx.user.username,
    cluster: ctx.family.cluster,
    family_id: ctx.family.id,
    session_id: ctx.session.id,
    client_ip: req.clientIp ?? null,
    request_id: req.requestId ?? null,
  };
  const decision = decideRefresh(ctx, client, now, deps.policy);
  let successor: string;
  switch (decision.action) {
    case 'deny':
      await deps.store.appendAudit({ ...audit, kind: 'token.refresh_denied', details: { reason: decision.reason, generation: ctx.token.generation } }, now);
      throw new InvalidGrantError(describe(decision.reason));
    case 'revoke_family':
      await deps.store.revokeFamily(ctx.family.id, 'refresh_token_reuse', now, {
        ...audit,
        kind: 'token.reuse_detected',
        details: { generation: ctx.token.generation, head_generation: ctx.family.generation, used_at: ctx.token.used_at },
      });
      deps.log.warn('refresh token reuse: family revoked', { family_id: ctx.family.id, user: ctx.user.username, request_id: req.requestId });
      throw new InvalidGrantError(describe('reuse'));
    case 'replay': {
      successor = token;
      for (let i = 0; i < decision.steps; i++) successor = successorOf(successor, deps.refreshKey);
      await deps.store.appendAudit({ ...audit, kind: 'token.refresh_replayed', details: { generation: ctx.token.generation, steps: decision.steps } }, now);
      break;
    }
    case 'rotate': {
      successor = successorOf(token, deps.refreshKey);
      const result = await deps.store.rotateRefreshToken(
        { tokenHash, successorHash: hashRefreshToken(successor), familyId: ctx.family.id, generation: ctx.token.generation },
        now,
        { ...audit, kind: 'token.refreshed', details: { generation: ctx.token.generation + 1 } },
      );
      // Lost a race with another refresh of the same token: it is now a
      // just-spent token, which is exactly the grace-window replay.
      if (result === 'already_used') return refreshGrant(req, deps);
      break;
    }
  }
  const claims = idTokenClaims({
    issuer: deps.issuer,
    audience: client.clientId,
    user: ctx.user,
    session: ctx.session,
    now,
    lifetimeSeconds: deps.idTokenLifetimeSeconds,
  });
  const idToken = await signIdToken(claims, deps.keys.current());
  return json(
    200,
    {
      access_token: idToken,
      token_type: 'Bearer',
      expires_in: (claims.exp as number) - (claims.iat as number),
      id_token: idToken,
      refresh_token: successor,
      scope: 'openid',
    },
    { ...NO_STORE },
  );
}
