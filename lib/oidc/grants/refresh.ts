import { currentEntitlements, entitledUser } from '../../auth/entitlements';
import { clusterTokenGroups, type ClusterGroupRules } from '../cluster-groups';
import type { OAuthClient } from '../client-auth';
import { InvalidGrantError, InvalidRequestError, SlowDownError } from '../errors';
import type { IssuerRequest, IssuerResponse } from '../http';
import { idTokenClaims, signIdTokenSync } from '../id-token';
import { decideRefresh, describeRefusal, type DenyReason } from '../refresh-policy';
import { hashRefreshToken, isWellFormedRefreshToken, successorOf } from '../refresh-tokens';
import { retryAfterSeconds } from '../token-throttle';
import { tokenResponse, type TokenForm, type TokenEndpointDeps } from './shared';

/** A refusal that names a family: audited (coalesced) and limited by that family, not the address. */
export class FamilyRefusal extends InvalidGrantError {}

/**
 * grant_type=refresh_token (RFC 6749 §6): the grant kubectl (and kubelogin)
 * uses every id_token lifetime. One read, one atomic write, one signature;
 * a refusal writes nothing on the request path.
 */
export async function refreshGrant(req: IssuerRequest, form: TokenForm, client: OAuthClient, deps: TokenEndpointDeps, lostRace = false): Promise<IssuerResponse> {
  if (!form.refresh_token) throw new InvalidRequestError('refresh_token is required');
  const token = form.refresh_token;
  const metrics = deps.metrics;
  if (!isWellFormedRefreshToken(token)) {
    metrics?.refresh('invalid_token', undefined);
    throw new InvalidGrantError('the refresh token is malformed: expected kgr_ and 43 base64url characters');
  }

  const tokenHash = hashRefreshToken(token);
  const ctx = await deps.store.findRefreshContext(tokenHash);
  if (!ctx) {
    metrics?.refresh('invalid_token', undefined);
    throw new InvalidGrantError('the refresh token is not known here: it was never issued by this Kubegate, or it has been removed');
  }
  // The time after the read: a racing refresh that committed before it spent the token at or before now.
  const now = deps.now();

  const audit = {
    user_id: ctx.user.id,
    username: ctx.user.username,
    cluster: ctx.family.cluster,
    family_id: ctx.family.id,
    session_id: ctx.session.id,
    client_ip: req.clientIp ?? null,
    request_id: req.requestId ?? null,
  };
  const refuse = (reason: DenyReason | 'rate_limited') => {
    metrics?.refresh(reason, ctx.family.cluster);
    deps.denials.record({ ...audit, reason, generation: ctx.token.generation }, now);
  };

  // A request that lost a rotation race was already counted.
  const admitted = lostRace ? ({ ok: true } as const) : deps.throttle.admitFamily(ctx.family.id, now);
  if (!admitted.ok) {
    metrics?.rateLimitedRequest('token_per_credential');
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
    metrics?.refresh('reuse_detected', ctx.family.cluster);
    deps.log.warn('refresh token reuse: family revoked', { family_id: ctx.family.id, user: ctx.user.username, request_id: req.requestId });
    throw new FamilyRefusal(describe(decision));
  }
  if (decision.action === 'offboard') {
    await deps.store.revokeFamily(ctx.family.id, 'offboarded', now, { ...audit, kind: 'user.offboarded', details: { because: decision.reason, generation: ctx.token.generation } });
    metrics?.refresh('offboarded', ctx.family.cluster);
    deps.log.info('refresh refused: user offboarded, family revoked', { family_id: ctx.family.id, user: ctx.user.username, because: decision.reason, request_id: req.requestId });
    throw new FamilyRefusal(describe(decision));
  }

  // The claims come first: a session ending within this second would give
  // an id_token expired at birth, and then nothing may be consumed.
  const claims = idTokenClaims({
    issuer: deps.issuer,
    // The cluster's audience: for a cluster's own client that is its client_id.
    audience: client.audience ?? client.clientId,
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
    if (result === 'already_used') return refreshGrant(req, form, client, deps, true);
  }
  const response = tokenResponse(signIdTokenSync(claims, deps.keys.current()), successor, claims.exp - claims.iat);
  metrics?.refresh(decision.action === 'replay' ? 'replayed_in_grace' : 'issued', ctx.family.cluster);
  return response;
}

/** The cluster's names for the person's groups, in its tokens only (allowed_groups was checked on the person's own). */
function withClusterGroups<U extends { groups: string[] }>(user: U, rules: ClusterGroupRules | undefined): U {
  return { ...user, groups: clusterTokenGroups(rules, user.groups) };
}
