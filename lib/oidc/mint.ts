import { randomUUID } from 'node:crypto';
import { mayUseCluster } from '../access';
import { mfaRequired, sessionHasMfa, type MfaPolicy } from '../mfa/policy';
import { AppError } from '../util/errors';
import type { ResolvedCluster } from '../config/load';
import type { CredentialOrigin, Family, LoginSession, Store, User } from '../store/types';
import { clusterTokenGroups } from './cluster-groups';
import { idTokenClaims, signIdToken } from './id-token';
import type { KeyManager } from './keys';
import { hashRefreshToken, newRefreshToken } from './refresh-tokens';

const NO_MFA: MfaPolicy = { everyone: false, groups: [] };

export interface MintDeps {
  issuer: string;
  store: Store;
  keys: KeyManager;
  idTokenLifetimeSeconds: number;
  now: () => number;
  /** Who must have shown a second factor (config `mfa`); a cluster can ask too (`require_mfa`). Omitted: nobody. */
  mfaPolicy?: MfaPolicy;
}

export interface MintedCredential {
  idToken: string;
  refreshToken: string;
  /** Epoch ms when the id_token expires. */
  idTokenExpiresAt: number;
  family: Family;
}

/**
 * The session is over, or the cluster is not (or no longer) for this user.
 * Pages and downloads map it (lib/portal): an ended session goes back to
 * sign-in saying so; a cluster answers 404, exactly like one that does not exist.
 */
export class NoAccessError extends AppError {
  constructor(readonly reason: 'session_inactive' | 'cluster_not_allowed' | 'mfa_required') {
    super('no_access', reason === 'session_inactive' ? 'the login session has ended' : reason === 'mfa_required' ? 'a second factor is required first' : 'no such cluster');
  }
}

/**
 * Mints a credential for one cluster: a new refresh-token family bound to
 * the login session and the cluster's audience, its generation-0 token, and
 * an id_token. Called through lib/portal/credentials.ts (issueClusterCredential).
 */
export async function mintCredential(
  deps: MintDeps,
  input: {
    session: LoginSession;
    user: User;
    cluster: ResolvedCluster;
    clientIp?: string | null;
    origin: CredentialOrigin;
    /** The OAuth client the family is bound to, when not the cluster's own (a configured extra client). */
    clientId?: string;
    /** Chosen by the caller when it must name the family before it exists (authorization-code replay). */
    familyId?: string;
    nonce?: string;
    requestId?: string | null;
  },
): Promise<MintedCredential> {
  const now = deps.now();
  const { session, user, cluster } = input;
  if (session.revoked_at !== null || now >= session.expires_at) throw new NoAccessError('session_inactive');
  if (!mayUseCluster(cluster, user.groups)) throw new NoAccessError('cluster_not_allowed');
  // The last line of defence: whatever page or grant asked, nothing is minted before a required second factor.
  if (mfaRequired(deps.mfaPolicy ?? NO_MFA, user.groups, cluster) && !sessionHasMfa(session)) throw new NoAccessError('mfa_required');
  // Built before anything is written: a session ending within this second
  // would give an id_token expired at birth, so nothing is minted.
  const claims = idTokenClaims({
    issuer: deps.issuer,
    audience: cluster.client_id,
    user: { ...user, groups: clusterTokenGroups(cluster, user.groups) },
    session,
    now,
    lifetimeSeconds: deps.idTokenLifetimeSeconds,
    nonce: input.nonce,
  });
  if (!claims) throw new NoAccessError('session_inactive');
  const refreshToken = newRefreshToken();
  const family = await deps.store.createFamily(
    {
      id: input.familyId ?? randomUUID(),
      login_session_id: session.id,
      user_id: user.id,
      cluster: cluster.name,
      client_id: input.clientId ?? cluster.client_id,
      origin: input.origin,
      expires_at: session.expires_at,
      first_token_hash: hashRefreshToken(refreshToken),
    },
    now,
    {
      kind: 'token.issued',
      username: user.username,
      client_ip: input.clientIp ?? null,
      request_id: input.requestId ?? null,
      details: { origin: input.origin, ...(input.clientId && input.clientId !== cluster.client_id ? { client_id: input.clientId } : {}) },
    },
  );
  const idToken = await signIdToken(claims, deps.keys.current());
  return { idToken, refreshToken, idTokenExpiresAt: claims.exp * 1000, family };
}
