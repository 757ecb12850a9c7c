import { z } from 'zod';
import { currentEntitlements, entitledUser } from '../auth/entitlements';
import type { ResolvedConfig } from '../config/load';
import type { Store } from '../store/types';
import type { Rechecker } from '../upstream/recheck';
import type { Logger } from '../util/log';
import { authenticateClient, type OAuthClient } from './client-auth';
import type { DenialAudit } from './denial-audit';
import {
  InvalidGrantError,
  InvalidRequestError,
  MethodNotAllowedError,
  OAuthError,
  printable,
  renderOAuthError,
  RequestTooLargeError,
  SlowDownError,
  UnsupportedGrantTypeError,
} from './errors';
import { header, json, MAX_BODY_BYTES, NO_STORE, type IssuerRequest, type IssuerResponse } from './http';
import { clusterTokenGroups, type ClusterGroupRules } from './cluster-groups';
import { idTokenClaims, signIdToken } from './id-token';
import type { KeyManager } from './keys';
import { decideRefresh, describeRefusal, type DenyReason, type RefreshPolicy } from './refresh-policy';
import { hashRefreshToken, isWellFormedRefreshToken, successorOf } from './refresh-tokens';
import { retryAfterSeconds, type TokenThrottle } from './token-throttle';

export interface TokenEndpointDeps {
  issuer: string;
  store: Store;
  keys: KeyManager;
  clients: ReadonlyMap<string, OAuthClient>;
  /** Where each person's current entitlements are read from on every refresh (lib/auth/entitlements.ts). */
  config: Pick<ResolvedConfig, 'upstreams' | 'users'>;
  /** Re-checks upstream people when their last check is due (lib/upstream/recheck.ts). */
  rechecker: Pick<Rechecker, 'check'>;
  policy: RefreshPolicy;
  idTokenLifetimeSeconds: number;
  /** Server-side key from which successors are derived. */
  refreshKey: Buffer;
  throttle: TokenThrottle;
  /** Refusals are audited through this, coalesced, off the request path. */
  denials: DenialAudit;
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
  const parsed = TokenRequestSchema.safeParse(params);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new InvalidRequestError(first.message.startsWith(String(first.path[0])) ? first.message : `${String(first.path[0])}: ${first.message}`);
  }
  return parsed.data;
}

/** A refusal that names a family: audited (coalesced) and limited by that family, not the address. */
class FamilyRefusal extends InvalidGrantError {}

/**
 * POST /oidc/token (RFC 6749 §6, OIDC Core §12): the refresh grant kubectl
 * uses every id_token lifetime. One read, one atomic write, one signature;
 * a refusal writes nothing on the request path.
 */
export async function handleTokenRequest(req: IssuerRequest, deps: TokenEndpointDeps): Promise<IssuerResponse> {
  const now = deps.now();
  const admitted = deps.throttle.admitAddress(req.clientIp, now);
  if (!admitted.ok) {
    deps.denials.record(
      { reason: 'rate_limited', family_id: null, user_id: null, username: null, cluster: null, session_id: null, client_ip: req.clientIp ?? null, request_id: req.requestId ?? null },
      now,
    );
    return renderOAuthError(new SlowDownError('address', retryAfterSeconds(admitted)), { requestId: req.requestId, log: deps.log, where: 'token endpoint' });
  }
  try {
    return await refreshGrant(req, deps);
  } catch (err) {
    // Failures that name no family spend from the address's bucket; the
    // family's own bucket already limits the others, and a 429 or 503 says
    // nothing about the client.
    if (err instanceof OAuthError && err.status < 500 && err.status !== 429 && !(err instanceof FamilyRefusal)) {
      deps.throttle.addressFailed(req.clientIp, deps.now());
    }
    return renderOAuthError(err, { requestId: req.requestId, log: deps.log, where: 'token endpoint' });
  }
}

async function refreshGrant(req: IssuerRequest, deps: TokenEndpointDeps, lostRace = false): Promise<IssuerResponse> {
  const form = parseForm(req);
  const client = authenticateClient(header(req, 'authorization'), form, deps.clients);
  if (form.grant_type !== 'refresh_token') throw new UnsupportedGrantTypeError(form.grant_type);
  if (!form.refresh_token) throw new InvalidRequestError('refresh_token is required');
  const token = form.refresh_token;
  if (!isWellFormedRefreshToken(token)) throw new InvalidGrantError('the refresh token is malformed: expected kgr_ and 43 base64url characters');

  const now = deps.now();
  const tokenHash = hashRefreshToken(token);
  const ctx = await deps.store.findRefreshContext(tokenHash);
  if (!ctx) throw new InvalidGrantError('the refresh token is not known here: it was never issued by this Kubegate, or it has been removed');

  const audit = {
    user_id: ctx.user.id,
    username: ctx.user.username,
    cluster: ctx.family.cluster,
    family_id: ctx.family.id,
    session_id: ctx.session.id,
    client_ip: req.clientIp ?? null,
    request_id: req.requestId ?? null,
  };
  const refuse = (reason: DenyReason | 'rate_limited') => deps.denials.record({ ...audit, reason, generation: ctx.token.generation }, now);

  // A request that lost a rotation race was already counted.
  const admitted = lostRace ? ({ ok: true } as const) : deps.throttle.admitFamily(ctx.family.id, now);
  if (!admitted.ok) {
    refuse('rate_limited');
    throw new SlowDownError('credential', retryAfterSeconds(admitted));
  }

  // The upstream is asked only about a credential that is otherwise good: a revoked, expired or
  // foreign one is refused below anyway, and must not cost the upstream a look-up.
  const live =
    ctx.family.client_id === client.clientId && ctx.family.revoked_at === null && ctx.session.revoked_at === null && now < ctx.family.expires_at && now < ctx.session.expires_at;
  const checks = live ? { rechecker: deps.rechecker, request: { clientIp: req.clientIp ?? null, requestId: req.requestId ?? null, cluster: ctx.family.cluster } } : undefined;
  const current = await currentEntitlements(deps.config, ctx.user, checks);
  const decision = decideRefresh(ctx, client, current, now, deps.policy);
  const describe = (d: Parameters<typeof describeRefusal>[0]) => describeRefusal(d, ctx, { issuer: deps.issuer, policy: deps.policy });
  if (decision.action === 'deny') {
    refuse(decision.reason);
    throw new FamilyRefusal(describe(decision));
  }
  if (decision.action === 'revoke_family') {
    await deps.store.revokeFamily(ctx.family.id, 'refresh_token_reuse', now, {
      ...audit,
      kind: 'token.reuse_detected',
      details: { generation: ctx.token.generation, head_generation: ctx.family.generation, used_at: ctx.token.used_at },
    });
    deps.log.warn('refresh token reuse: family revoked', { family_id: ctx.family.id, user: ctx.user.username, request_id: req.requestId });
    throw new FamilyRefusal(describe(decision));
  }
  if (decision.action === 'offboard') {
    await deps.store.revokeFamily(ctx.family.id, 'offboarded', now, { ...audit, kind: 'user.offboarded', details: { because: decision.reason, generation: ctx.token.generation } });
    deps.log.info('refresh refused: user offboarded, family revoked', { family_id: ctx.family.id, user: ctx.user.username, because: decision.reason, request_id: req.requestId });
    throw new FamilyRefusal(describe(decision));
  }

  // The claims come first: a session ending within this second would give
  // an id_token expired at birth, and then nothing may be consumed.
  const claims = idTokenClaims({
    issuer: deps.issuer,
    audience: client.clientId,
    // decideRefresh offboarded anyone removed; the fallback (no groups) is never used.
    user: current.status === 'active' ? withClusterGroups(entitledUser(ctx.user, current), client.groupRules) : { ...ctx.user, groups: [] },
    session: ctx.session,
    now,
    lifetimeSeconds: deps.idTokenLifetimeSeconds,
  });
  if (!claims) {
    refuse('session_expired');
    throw new FamilyRefusal(describe({ action: 'deny', reason: 'session_expired' }));
  }

  let successor: string;
  if (decision.action === 'replay') {
    successor = token;
    for (let i = 0; i < decision.steps; i++) successor = successorOf(successor, deps.refreshKey);
    await deps.store.appendAudit({ ...audit, kind: 'token.refresh_replayed', details: { generation: ctx.token.generation, steps: decision.steps } }, now);
  } else {
    successor = successorOf(token, deps.refreshKey);
    const result = await deps.store.rotateRefreshToken(
      { tokenHash, successorHash: hashRefreshToken(successor), familyId: ctx.family.id, generation: ctx.token.generation },
      now,
      { ...audit, kind: 'token.refreshed', details: { generation: ctx.token.generation + 1 } },
    );
    // Lost a race with another refresh of the same token: it is now a
    // just-spent token, which is exactly the grace-window replay.
    if (result === 'already_used') return refreshGrant(req, deps, true);
  }
  return tokenResponse(await signIdToken(claims, deps.keys.current()), successor, claims.exp - claims.iat);
}

/** The cluster's names for the person's groups, in its tokens only (allowed_groups was checked on the person's own). */
function withClusterGroups<U extends { groups: string[] }>(user: U, rules: ClusterGroupRules | undefined): U {
  return { ...user, groups: clusterTokenGroups(rules, user.groups) };
}

function tokenResponse(idToken: string, refreshToken: string, expiresIn: number): IssuerResponse {
  return json(
    200,
    { access_token: idToken, token_type: 'Bearer', expires_in: expiresIn, id_token: idToken, refresh_token: refreshToken, scope: 'openid' },
    { ...NO_STORE },
  );
}
