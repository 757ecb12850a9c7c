/**
 * The portal's data layer for credentials and sessions: the one place that
 * mints a cluster credential and the one place that revokes, used by pages,
 * server actions, routes and the admin command alike. Every revocation
 * carries a RevokeReason (shown to the person and to admins) and writes its
 * audit event in the same transaction as the change.
 */
import { mayUseCluster } from '../access';
import type { ResolvedCluster } from '../config/load';
import type { CredentialSpec } from '../kubeconfig/types';
import { mintCredential, NoAccessError, type MintDeps, type MintedCredential } from '../oidc/mint';
import type { Runtime } from '../runtime';
import type { AuditKind, CredentialOrigin, LoginSession, RevokeReason, Store, User } from '../store/types';
import { credentialSpec, type IssuerSettings } from './cluster-view';

/** The data layer's view of the runtime. */
export function credentialDeps(rt: Pick<Runtime, 'store' | 'now' | 'mintDeps' | 'config' | 'clusters'>): CredentialDeps {
  return { store: rt.store, now: rt.now, mintDeps: rt.mintDeps, issuer: rt.config.issuer, clusters: rt.clusters };
}

export interface CredentialDeps {
  store: Store;
  now: () => number;
  mintDeps: MintDeps;
  issuer: IssuerSettings;
  clusters: ReadonlyMap<string, ResolvedCluster>;
}

/** Who asked for a revocation: the person themselves (from one of their sessions) or an admin. */
export type Actor = { kind: 'user'; user: Pick<User, 'id' | 'username'>; sessionId: string } | { kind: 'admin'; by: string };

export interface IssuedCredential {
  spec: CredentialSpec;
  minted: MintedCredential;
  cluster: ResolvedCluster;
}

/**
 * Mints a credential for `clusterName` and builds the structure both the
 * commands and the kubeconfig come from. Throws NoAccessError (callers
 * answer 404, or send an ended session back to sign-in) when the cluster is
 * unknown, not open to the user's groups, or the session is over.
 */
export async function issueClusterCredential(
  deps: CredentialDeps,
  input: { session: LoginSession; user: User; clusterName: string; clientIp?: string | null; origin: CredentialOrigin },
): Promise<IssuedCredential> {
  const cluster = deps.clusters.get(input.clusterName);
  if (!cluster || !mayUseCluster(cluster, input.user.groups)) throw new NoAccessError('cluster_not_allowed');
  const minted = await mintCredential(deps.mintDeps, { session: input.session, user: input.user, cluster, clientIp: input.clientIp, origin: input.origin });
  return { spec: credentialSpec(deps.issuer, cluster, input.user.username, minted), minted, cluster };
}

const SESSION_AUDIT: Record<RevokeReason, AuditKind> = {
  sign_out: 'session.logout',
  revoked_by_user: 'session.revoked',
  revoked_by_admin: 'session.revoked',
  revoked_by_client: 'session.revoked',
  refresh_token_reuse: 'session.revoked',
  authorization_code_reuse: 'session.revoked',
  offboarded: 'user.offboarded',
  restored: 'store.restored',
};

function actorDetails(actor: Actor): Record<string, unknown> {
  return actor.kind === 'admin' ? { by: actor.by } : { by_session: actor.sessionId };
}

/**
 * Ends a login session and every credential minted from it. A person may
 * end only their own sessions: another user's id answers 'not_found',
 * exactly like an id that does not exist.
 */
export async function revokeSession(
  deps: Pick<CredentialDeps, 'store' | 'now'>,
  sessionId: string,
  reason: RevokeReason,
  actor: Actor,
): Promise<'revoked' | 'already_revoked' | 'not_found'> {
  const found = await deps.store.getLoginSession(sessionId);
  if (!found || (actor.kind === 'user' && found.user.id !== actor.user.id)) return 'not_found';
  const done = await deps.store.revokeLoginSession(sessionId, reason, deps.now(), {
    kind: SESSION_AUDIT[reason],
    user_id: found.user.id,
    username: found.user.username,
    details: actorDetails(actor),
  });
  return done ? 'revoked' : 'already_revoked';
}

/** Revokes one credential (refresh-token family); the same ownership rule as revokeSession. */
export async function revokeCredential(
  deps: Pick<CredentialDeps, 'store' | 'now'>,
  familyId: string,
  reason: RevokeReason,
  actor: Actor,
): Promise<'revoked' | 'already_revoked' | 'not_found'> {
  const family = await deps.store.getFamily(familyId);
  if (!family || (actor.kind === 'user' && family.user_id !== actor.user.id)) return 'not_found';
  const user = await deps.store.getUser(family.user_id);
  const done = await deps.store.revokeFamily(familyId, reason, deps.now(), {
    kind: 'family.revoked',
    user_id: family.user_id,
    username: user?.username ?? null,
    cluster: family.cluster,
    session_id: family.login_session_id,
    details: actorDetails(actor),
  });
  return done ? 'revoked' : 'already_revoked';
}

/** Offboarding: ends every active session of every user with this username. Returns how many. */
export async function revokeUserEverywhere(
  deps: Pick<CredentialDeps, 'store' | 'now'>,
  username: string,
  reason: Extract<RevokeReason, 'revoked_by_admin' | 'offboarded'>,
  actor: Actor,
): Promise<number> {
  const now = deps.now();
  let count = 0;
  for (const s of await deps.store.listLoginSessions({ activeAt: now })) {
    const user = await deps.store.getUser(s.user_id);
    if (user?.username !== username) continue;
    if ((await revokeSession(deps, s.id, reason, actor)) === 'revoked') count++;
  }
  return count;
}

export { NoAccessError };
