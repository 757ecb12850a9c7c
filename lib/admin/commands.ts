import { revokeSession as revokeSessionFor, revokeUserEverywhere } from '../portal/credentials';
import { AUDIT_KINDS, type AuditKind, type Store } from '../store/types';
import { AdminError } from './errors';
import { escapeForTerminal, iso, jsonLine, table } from './terminal';

/**
 * What `kubegate` (the admin command) does, as plain functions over the
 * store: each returns the lines to print. Revocations made here bite within
 * one id_token lifetime, exactly like a sign-out, and are audited.
 *
 * Every value that came from outside (usernames as typed at a failed
 * sign-in, client addresses, audit details) is escaped for the terminal in
 * text output; `--json` prints one JSON object per line (JSON lines) with
 * the values exact.
 */

export type OutputFormat = 'text' | 'json';

const show = (value: string | null | undefined) => (value === null || value === undefined || value === '' ? '-' : escapeForTerminal(value));


export async function listSessions(store: Store, opts: { username?: string; now: number; format?: OutputFormat }): Promise<string[]> {
  const sessions = await store.listLoginSessions({ activeAt: opts.now });
  const found = [];
  for (const s of sessions) {
    const user = await store.getUser(s.user_id);
    if (!user || (opts.username !== undefined && user.username !== opts.username)) continue;
    const families = await store.listFamilies({ loginSessionId: s.id });
    const live = families.filter((f) => f.revoked_at === null && opts.now < f.expires_at);
    found.push({ s, user, credentials: live.length });
  }
  if (opts.format === 'json') {
    return found.map(({ s, user, credentials }) =>
      jsonLine({
        session: s.id,
        user: user.username,
        user_id: user.id,
        upstream: s.upstream,
        signed_in_at: iso(s.created_at),
        last_seen_at: iso(s.last_seen_at),
        expires_at: iso(s.expires_at),
        client_ip: s.client_ip,
        user_agent: s.user_agent,
        credentials,
      }),
    );
  }
  if (found.length === 0) return [opts.username !== undefined ? `no active sessions for ${show(opts.username)}` : 'no active sessions'];
  return table(
    ['SESSION', 'USER', 'UPSTREAM', 'SIGNED IN', 'LAST SEEN', 'ENDS', 'FROM', 'CREDENTIALS'],
    found.map(({ s, user, credentials }) => [
      show(s.id),
      show(user.username),
      show(s.upstream),
      iso(s.created_at),
      iso(s.last_seen_at),
      iso(s.expires_at),
      show(s.client_ip),
      String(credentials),
    ]),
  );
}

export async function revokeSession(store: Store, id: string, now: number): Promise<string[]> {
  const found = await store.getLoginSession(id);
  if (!found) throw new AdminError('not_found', `no session ${id}`);
  const result = await revokeSessionAs(store, now, id);
  return [
    result === 'revoked'
      ? `revoked session ${show(id)} of ${show(found.user.username)} and every credential minted from it`
      : `session ${show(id)} was already revoked`,
  ];
}

/** Offboarding: ends every active session of a user. */
export async function revokeUser(store: Store, username: string, now: number): Promise<string[]> {
  const count = await revokeUserEverywhere({ store, now: () => now }, username, 'revoked_by_admin', ADMIN);
  return [count ? `revoked ${count} session(s) of ${show(username)} and every credential minted from them` : `no active sessions for ${show(username)}`];
}

/**
 * A person lost every authenticator: their factors and recovery codes are
 * removed (audited), and their next sign-in enrolls anew where the policy asks.
 * Their open sessions keep what they showed; `revoke-user` ends those.
 */
export async function resetMfa(store: Store, username: string, now: number): Promise<string[]> {
  const users = await store.findUsersByUsername(username);
  if (users.length === 0) throw new AdminError('not_found', `no user ${show(username)}`);
  const lines: string[] = [];
  for (const u of users) {
    const r = await store.resetMfa(u.id, now, { kind: 'mfa.reset', user_id: u.id, username: u.username, details: { by: ADMIN.by, upstream: u.upstream } });
    lines.push(`reset second factors of ${show(u.username)} (upstream ${show(u.upstream)}): ${r.factors} factor(s) and ${r.recovery_codes} recovery code(s) removed`);
  }
  return lines;
}

/** `--kind`: one of AUDIT_KINDS, or an error that lists them. */
export function parseAuditKind(raw: string | undefined): AuditKind | undefined {
  if (raw === undefined) return undefined;
  if ((AUDIT_KINDS as readonly string[]).includes(raw)) return raw as AuditKind;
  throw new AdminError('unknown_kind', `unknown audit kind "${raw}"; use one of:\n${AUDIT_KINDS.map((k) => `  ${k}`).join('\n')}`);
}

/** The newest `limit` audit events (of one kind), oldest first. */
export async function showAudit(store: Store, opts: { limit: number; kind?: AuditKind; format?: OutputFormat }): Promise<string[]> {
  const events = (await store.listAudit({ limit: opts.limit, kind: opts.kind })).reverse();
  if (opts.format === 'json') {
    return events.map((e) =>
      jsonLine({
        at: new Date(e.at).toISOString(),
        kind: e.kind,
        user: e.username,
        user_id: e.user_id,
        cluster: e.cluster,
        family_id: e.family_id,
        session_id: e.session_id,
        client_ip: e.client_ip,
        request_id: e.request_id,
        details: e.details,
      }),
    );
  }
  if (events.length === 0) return [opts.kind ? `no ${opts.kind} events` : 'no audit events'];
  return table(
    ['TIME', 'KIND', 'USER', 'CLUSTER', 'FROM', 'DETAILS'],
    events.map((e) => [iso(e.at), e.kind, show(e.username), show(e.cluster), show(e.client_ip), escapeForTerminal(JSON.stringify(e.details))]),
  );
}

export { AdminError };

const ADMIN = { kind: 'admin', by: 'admin-command' } as const;
const revokeSessionAs = (store: Store, now: number, id: string) => revokeSessionFor({ store, now: () => now }, id, 'revoked_by_admin', ADMIN);
