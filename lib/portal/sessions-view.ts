import type { Family, LoginSession } from '../store/types';

export type CredentialStatus = 'active' | 'revoked' | 'idle' | 'expired';

export interface CredentialRow {
  id: string;
  cluster: string;
  createdAt: number;
  lastUsedAt: number;
  status: CredentialStatus;
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
      credentials: (bySession.get(s.id) ?? [])
        .map((f) => ({ id: f.id, cluster: f.cluster, createdAt: f.created_at, lastUsedAt: f.last_used_at, status: credentialStatus(f, opts.now, opts.idleTimeoutMs) }))
        .sort((a, b) => b.createdAt - a.createdAt),
    }))
    .sort((a, b) => Number(b.current) - Number(a.current) || b.createdAt - a.createdAt);
}
