/**
 * The console's list of everyone's sign-ins and the credentials minted from
 * them, filtered by user, cluster, group, upstream and state. Pure: the page
 * reads the store and hands the rows here.
 */
import { z } from 'zod';
import type { Family, LoginSession, User } from '../../store/types';
import { credentialRow, type CredentialRow } from '../sessions-view';
import { parseFields, text, type Parsed, type SearchParams } from './filters';

export const SESSION_STATES = ['active', 'ended', 'all'] as const;
export type SessionState = (typeof SESSION_STATES)[number];

const shape = {
  user: text,
  cluster: text,
  group: text,
  upstream: text,
  state: z.enum(SESSION_STATES, { message: `must be one of ${SESSION_STATES.join(', ')}` }),
  page: z.coerce.number({ message: 'must be a page number' }).int('must be a page number').min(1, 'must be 1 or more').max(10_000, 'must be at most 10000'),
};

export interface SessionFilters {
  /** Part of the username, any case. */
  user?: string;
  /** Sign-ins with a credential for this cluster (only those credentials are shown). */
  cluster?: string;
  /** People in this group (final name, as in tokens). */
  group?: string;
  upstream?: string;
  state: SessionState;
  page: number;
}

export function parseSessionFilters(params: SearchParams): Parsed<SessionFilters> {
  const { filters, errors } = parseFields(shape, params);
  return { filters: { ...filters, state: filters.state ?? 'active', page: filters.page ?? 1 }, errors };
}

export interface AdminSessionRow {
  id: string;
  userId: string;
  username: string;
  groups: string[];
  upstream: string;
  createdAt: number;
  authTime: number;
  expiresAt: number;
  /** Null while it is active. */
  endedAt: number | null;
  /** The stored reason code, or 'expired'. */
  endedBecause: string | null;
  clientIp: string | null;
  userAgent: string | null;
  mfa: boolean;
  credentials: CredentialRow[];
}

export const SESSIONS_PAGE_SIZE = 50;

export function adminSessionRows(
  input: { sessions: LoginSession[]; families: Family[]; users: ReadonlyMap<string, User> },
  filters: SessionFilters,
  opts: { now: number; idleTimeoutMs: number },
): { rows: AdminSessionRow[]; total: number; pages: number } {
  const bySession = new Map<string, Family[]>();
  for (const f of input.families) bySession.set(f.login_session_id, [...(bySession.get(f.login_session_id) ?? []), f]);
  const needle = filters.user?.toLowerCase();
  const all: AdminSessionRow[] = [];
  for (const s of input.sessions) {
    const user = input.users.get(s.user_id);
    const username = user?.username ?? s.user_id;
    const groups = user?.groups ?? [];
    const active = s.revoked_at === null && opts.now < s.expires_at;
    if (filters.state === 'active' && !active) continue;
    if (filters.state === 'ended' && active) continue;
    if (needle !== undefined && !username.toLowerCase().includes(needle)) continue;
    if (filters.group !== undefined && !groups.includes(filters.group)) continue;
    if (filters.upstream !== undefined && s.upstream !== filters.upstream) continue;
    let families = bySession.get(s.id) ?? [];
    if (filters.cluster !== undefined) {
      families = families.filter((f) => f.cluster === filters.cluster);
      if (families.length === 0) continue;
    }
    all.push({
      id: s.id,
      userId: s.user_id,
      username,
      groups,
      upstream: s.upstream,
      createdAt: s.created_at,
      authTime: s.auth_time,
      expiresAt: s.expires_at,
      endedAt: active ? null : (s.revoked_at ?? s.expires_at),
      endedBecause: active ? null : (s.revoke_reason ?? 'expired'),
      clientIp: s.client_ip,
      userAgent: s.user_agent,
      mfa: s.amr.includes('mfa'),
      credentials: families.map((f) => credentialRow(f, opts)).sort((a, b) => b.createdAt - a.createdAt),
    });
  }
  all.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
  const pages = Math.max(1, Math.ceil(all.length / SESSIONS_PAGE_SIZE));
  const start = (Math.min(filters.page, pages) - 1) * SESSIONS_PAGE_SIZE;
  return { rows: all.slice(start, start + SESSIONS_PAGE_SIZE), total: all.length, pages };
}

/** What the console says after an action (?notice=), keyed by the action's outcome. */
export const ADMIN_NOTICES: Readonly<Record<string, string>> = {
  session_revoked: 'The sign-in and every credential minted from it are revoked.',
  session_already_revoked: 'That sign-in had already ended.',
  session_not_found: 'No such sign-in.',
  credential_revoked: 'The credential is revoked.',
  credential_already_revoked: 'That credential had already ended.',
  credential_not_found: 'No such credential.',
  user_revoked: "Every active sign-in of that user, and their credentials, are revoked.",
  user_nothing: 'That user had no active sign-in.',
  not_from_portal: 'That request did not come from this page. Reload and try again.',
};

export function adminNotice(key: unknown): string | undefined {
  return typeof key === 'string' && Object.hasOwn(ADMIN_NOTICES, key) ? ADMIN_NOTICES[key] : undefined;
}
