import type { Store, AuditKind } from '../store/types';
import { revokeSession as revokeSessionFor, revokeUserEverywhere } from '../portal/credentials';

/**
 * What `kubegate` (the admin command) does, as plain functions over the
 * store: each returns the lines to print. Revocations made here bite within
 * one id_token lifetime, exactly like a sign-out, and are audited.
 */

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export async function listSessions(store: Store, opts: { username?: string; now: number }): Promise<string[]> {
  const sessions = await store.listLoginSessions({ activeAt: opts.now });
  const rows: string[][] = [];
  for (const s of sessions) {
    const user = await store.getUser(s.user_id);
    if (!user || (opts.username !== undefined && user.username !== opts.username)) continue;
    const families = await store.listFamilies({ loginSessionId: s.id });
    const live = families.filter((f) => f.revoked_at === null && opts.now < f.expires_at);
    rows.push([s.id, user.username, s.upstream, iso(s.created_at), iso(s.expires_at), s.client_ip ?? '-', String(live.length)]);
  }
  if (rows.length === 0) return [opts.username ? `no active sessions for ${opts.username}` : 'no active sessions'];
  return table(['SESSION', 'USER', 'UPSTREAM', 'SIGNED IN', 'ENDS', 'FROM', 'CREDENTIALS'], rows);
}

export async function revokeSession(store: Store, id: string, now: number): Promise<string[]> {
  const found = await store.getLoginSession(id);
  if (!found) throw new AdminError(`no session ${id}`);
  const result = await revokeSessionAs(store, now, id);
  return [result === 'revoked' ? `revoked session ${id} of ${found.user.username} and every credential minted from it` : `session ${id} was already revoked`];
}

/** Offboarding: ends every active session of a user. */
export async function revokeUser(store: Store, username: string, now: number): Promise<string[]> {
  const count = await revokeUserEverywhere({ store, now: () => now }, username, 'revoked_by_admin', ADMIN);
  return [count ? `revoked ${count} session(s) of ${username} and every credential minted from them` : `no active sessions for ${username}`];
}

export async function showAudit(store: Store, opts: { limit: number; kind?: AuditKind }): Promise<string[]> {
  const events = (await store.listAudit({ limit: opts.limit, kind: opts.kind })).reverse();
  return events.map((e) =>
    [iso(e.at), e.kind, e.username ?? '-', e.cluster ?? '-', e.client_ip ?? '-', JSON.stringify(e.details)].join('  '),
  );
}

export class AdminError extends Error {}

const ADMIN = { kind: 'admin', by: 'admin-command' } as const;
const revokeSessionAs = (store: Store, now: number, id: string) => revokeSessionFor({ store, now: () => now }, id, 'revoked_by_admin', ADMIN);
