import { randomUUID } from 'node:crypto';
import { currentEntitlements } from '../../auth/entitlements';
import { hashCode, isWellFormedCode, NS_CODE, type CodeRecord } from '../authorize';
import { verifierMatches } from '../authorize-redirect';
import type { OAuthClient } from '../client-auth';
import { InvalidGrantError, InvalidRequestError } from '../errors';
import type { IssuerRequest, IssuerResponse } from '../http';
import { mintCredential, NoAccessError } from '../mint';
import { tokenResponse, type TokenEndpointDeps, type TokenForm } from './shared';

const UNKNOWN = 'the authorization code is unknown or has expired (codes last one minute); sign in again';

/**
 * grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6): the code
 * must be redeemed by the client it was issued to, with the same
 * redirect_uri and the verifier of its challenge. It is single-use: the
 * record turns `redeemed` (naming the family before the family exists) by
 * compare-and-set, and a second redemption revokes that family
 * (RFC 6749 §4.1.2: "SHOULD revoke ... all tokens previously issued based
 * on that authorization code").
 */
export async function authorizationCodeGrant(req: IssuerRequest, form: TokenForm, client: OAuthClient, deps: TokenEndpointDeps): Promise<IssuerResponse> {
  if (!form.code) throw new InvalidRequestError('code is required');
  if (form.redirect_uri === undefined) throw new InvalidRequestError('redirect_uri is required');
  if (!isWellFormedCode(form.code)) throw new InvalidGrantError(UNKNOWN);
  const now = deps.now();
  const key = hashCode(form.code);
  const raw = await deps.store.getEphemeral(NS_CODE, key, now);
  if (raw === undefined) throw new InvalidGrantError(UNKNOWN);
  const record = JSON.parse(raw) as CodeRecord;

  if (record.status !== 'issued') {
    await replayed(req, key, raw, record, deps);
    throw new InvalidGrantError('the authorization code was already used; the credential it gave has been revoked; sign in again');
  }
  // Bound to client, redirect URI and challenge (a mismatch consumes nothing: its holder can do nothing with it).
  if (record.client_id !== client.clientId) throw new InvalidGrantError('the authorization code was issued to another client');
  if (record.redirect_uri !== form.redirect_uri) throw new InvalidGrantError('redirect_uri does not match the authorization request');
  if (record.code_challenge !== undefined) {
    if (form.code_verifier === undefined) throw new InvalidGrantError('code_verifier is required: the authorization request carried a code_challenge');
    if (!verifierMatches(form.code_verifier, record.code_challenge)) throw new InvalidGrantError('code_verifier does not match the code_challenge');
  } else if (form.code_verifier !== undefined) {
    // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
    throw new InvalidGrantError('code_verifier given, but the authorization request carried no code_challenge');
  }

  const familyId = randomUUID();
  const redeemed = JSON.stringify({ ...record, status: 'redeemed', family_id: familyId } satisfies CodeRecord);
  if (!(await deps.store.replaceEphemeral(NS_CODE, key, raw, redeemed, now))) {
    // Another redemption won the compare-and-set: this one is the replay.
    const again = await deps.store.getEphemeral(NS_CODE, key, now);
    if (again !== undefined) await replayed(req, key, again, JSON.parse(again) as CodeRecord, deps);
    throw new InvalidGrantError('the authorization code was already used; the credential it gave has been revoked; sign in again');
  }

  const found = await deps.store.getLoginSession(record.session_id);
  const cluster = deps.config.clusters?.find((c) => c.name === client.cluster);
  if (!found || !cluster) throw new InvalidGrantError('the sign-in this code came from is gone; sign in again');
  const current = await currentEntitlements(deps.config, found.user);
  if (current.status !== 'active') throw new InvalidGrantError('your account is no longer entitled to sign in here');
  let minted;
  try {
    minted = await mintCredential(
      { issuer: deps.issuer, store: deps.store, keys: deps.keys, idTokenLifetimeSeconds: deps.idTokenLifetimeSeconds, now: deps.now, mfaPolicy: deps.mfaPolicy },
      {
        session: found.session,
        user: { ...found.user, username: current.username, groups: current.groups },
        cluster,
        clientId: client.clientId,
        familyId,
        nonce: record.nonce,
        origin: 'cli',
        clientIp: req.clientIp ?? null,
        requestId: req.requestId ?? null,
      },
    );
  } catch (err) {
    if (err instanceof NoAccessError) {
      throw new InvalidGrantError(
        err.reason === 'session_inactive'
          ? 'the sign-in this code came from has ended; sign in again'
          : err.reason === 'mfa_required'
            ? `cluster ${client.cluster} needs a second factor: verify it in the Kubegate portal, then try again`
            : `your groups do not give you access to cluster ${client.cluster}`,
      );
    }
    throw err;
  }
  // A replay that arrived while the family was being made marked the record; it could not revoke what did not exist yet.
  const after = await deps.store.getEphemeral(NS_CODE, key, deps.now());
  if (after !== undefined && (JSON.parse(after) as CodeRecord).status === 'replayed') {
    await revokeFor(req, { ...record, family_id: familyId }, deps);
    throw new InvalidGrantError('the authorization code was presented twice at once; the credential has been revoked; sign in again');
  }
  return tokenResponse(minted.idToken, minted.refreshToken, Math.max(0, Math.round((minted.idTokenExpiresAt - now) / 1000)));
}

async function replayed(req: IssuerRequest, key: string, raw: string, record: CodeRecord, deps: TokenEndpointDeps): Promise<void> {
  if (record.status === 'redeemed') await deps.store.replaceEphemeral(NS_CODE, key, raw, JSON.stringify({ ...record, status: 'replayed' } satisfies CodeRecord), deps.now());
  await revokeFor(req, record, deps);
}

async function revokeFor(req: IssuerRequest, record: CodeRecord, deps: TokenEndpointDeps): Promise<void> {
  if (!record.family_id) return;
  const family = await deps.store.getFamily(record.family_id);
  if (!family) return; // still being made: the first redemption sees the mark and revokes it
  const done = await deps.store.revokeFamily(family.id, 'authorization_code_reuse', deps.now(), {
    kind: 'token.reuse_detected',
    user_id: family.user_id,
    cluster: family.cluster,
    family_id: family.id,
    session_id: family.login_session_id,
    client_ip: req.clientIp ?? null,
    request_id: req.requestId ?? null,
    details: { grant: 'authorization_code' },
  });
  if (done) deps.log.warn('authorization code reuse: family revoked', { family_id: family.id, client_id: record.client_id, request_id: req.requestId });
}
