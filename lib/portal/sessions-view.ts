import type { CredentialOrigin, Family, LoginSession, RevokeReason } from '../store/types';

export type CredentialStatus = 'active' | 'revoked' | 'idle' | 'expired';

/** Where a credential was handed out, in the words the Sessions page uses. */
export const ORIGIN_LABELS: Record<CredentialOrigin, string> = {
  page: 'cluster page',
  download: 'kubeconfig download',
  cli: 'command line',
};

/** Why a credential or a sign-in was revoked, in plain words. */
export const REVOKE_REASONS: Record<RevokeReason, string> = {
  sign_out: 'you signed out',
  revoked_by_user: 'you revoked it',
  revoked_by_admin: 'revoked by an administrator',
  revoked_by_client: 'revoked by the program that held it (for example kubelogin when logging out)',
  refresh_token_reuse: 'a refresh token it had already used was presented again, so it may have been copied',
  authorization_code_reuse: 'the sign-in code it came from was presented a second time, so it may have been intercepted',
  offboarded: 'your access was removed by an administrator',
  restored: "Kubegate's database was restored from a backup",
};

/** A stored reason in words; an unknown or missing one (older rows) says only that it was revoked. */
export function revokeReasonText(reason: string | null): string {
  return reason !== null && Object.hasOwn(REVOKE_REASONS, reason) ? REVOKE_REASONS[reason as RevokeReason] : 'revoked';
}

export interface CredentialRow {
  id: string;
  cluster: string;
  origin: CredentialOrigin;
  originLabel: string;
  createdAt: number;
  /** When kubectl last refreshed it; null when it never has (last use is still the hand-out). */
  lastRefreshedAt: number | null;
  status: CredentialStatus;
  /** For a revoked credential: why, in words. */
  revokedBecause?: string;
}

export interface SessionRow {
  id: string;
  current: boolean;
  upstream: string;
  createdAt: number;
  expiresAt: number;
  clientIp: string | null;
  userAgent: string | null;
  credentials: CredentialRow[];
}

/** A sign-in that has ended recently, and why. */
export interface EndedSessionRow {
  id: string;
  upstream: string;
  createdAt: number;
  endedAt: number;
  /** In words: the revocation reason, or that its lifetime ran out. */
  endedBecause: string;
  credentialCount: number;
}

export function credentialStatus(f: Family, now: number, idleTimeoutMs: number): CredentialStatus {
  if (f.revoked_at !== null) return 'revoked';
  if (now >= f.expires_at) return 'expired';
  if (now - f.last_used_at > idleTimeoutMs) return 'idle';
  return 'active';
}

/**
 * A person's active sign-ins, newest first, each with the credentials minted
 * from it; the one this browser holds comes first and is marked.
 */
export function sessionRows(
  sessions: LoginSession[],
  families: Family[],
  opts: { now: number; currentSessionId: string; idleTimeoutMs: number },
): SessionRow[] {
  const bySession = new Map<string, Family[]>();
  for (const f of families) bySession.set(f.login_session_id, [...(bySession.get(f.login_session_id) ?? []), f]);
  return sessions
    .filter((s) => s.revoked_at === null && opts.now < s.expires_at)
    .map((s) => ({
      id: s.id,
      current: s.id === opts.currentSessionId,
      upstream: s.upstream,
      createdAt: s.created_at,
      expiresAt: s.expires_at,
      clientIp: s.client_ip,
      userAgent: s.user_agent,
      credentials: (bySession.get(s.id) ?? []).map((f) => credentialRow(f, opts)).sort((a, b) => b.createdAt - a.createdAt),
    }))
    .sort((a, b) => Number(b.current) - Number(a.current) || b.createdAt - a.createdAt);
}

export function credentialRow(f: Family, opts: { now: number; idleTimeoutMs: number }): CredentialRow {
  const status = credentialStatus(f, opts.now, opts.idleTimeoutMs);
  return {
    id: f.id,
    cluster: f.cluster,
    origin: f.origin,
    originLabel: ORIGIN_LABELS[f.origin] ?? f.origin,
    createdAt: f.created_at,
    // Minting sets last_used_at to created_at; only a refresh moves it.
    lastRefreshedAt: f.last_used_at > f.created_at ? f.last_used_at : null,
    status,
    ...(status === 'revoked' && { revokedBecause: revokeReasonText(f.revoke_reason) }),
  };
}

/**
 * Sign-ins that ended within `withinMs` (revoked, or past their lifetime),
 * newest first, at most `limit`: so a person who finds themselves signed
 * out, or their kubectl refused, can see why.
 */
export function endedSessionRows(
  sessions: LoginSession[],
  families: Family[],
  opts: { now: number; withinMs: number; limit: number },
): EndedSessionRow[] {
  return sessions
    .map((s) => ({ s, endedAt: s.revoked_at ?? (opts.now >= s.expires_at ? s.expires_at : null) }))
    .filter((x): x is { s: LoginSession; endedAt: number } => x.endedAt !== null && opts.now - x.endedAt <= opts.withinMs)
    .sort((a, b) => b.endedAt - a.endedAt)
    .slice(0, opts.limit)
    .map(({ s, endedAt }) => ({
      id: s.id,
      upstream: s.upstream,
      createdAt: s.created_at,
      endedAt,
      endedBecause: s.revoked_at !== null ? revokeReasonText(s.revoke_reason) : 'its lifetime ran out',
      credentialCount: families.filter((f) => f.login_session_id === s.id).length,
    }));
}
