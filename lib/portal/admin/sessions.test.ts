import { describe, expect, it } from 'vitest';
import type { Family, LoginSession, User } from '../../store/types';
import { adminNotice, adminSessionRows, parseSessionFilters, SESSIONS_PAGE_SIZE, type SessionFilters } from './sessions';

const MIN = 60_000;
const NOW = Date.UTC(2026, 0, 1, 12);
const opts = { now: NOW, idleTimeoutMs: 15 * MIN };

const user = (id: string, username: string, groups: string[]): User => ({ id, upstream: 'local', subject: id, username, email: null, name: null, groups, created_at: 0, updated_at: 0 });

function session(id: string, userId: string, over: Partial<LoginSession> = {}): LoginSession {
  return {
    id,
    user_id: userId,
    upstream: 'local',
    amr: ['pwd'],
    auth_time: NOW - 60 * MIN,
    created_at: NOW - 60 * MIN,
    expires_at: NOW + 60 * MIN,
    revoked_at: null,
    revoke_reason: null,
    client_ip: '192.0.2.1',
    user_agent: 'test',
    last_seen_at: NOW - MIN,
    ...over,
  };
}

function family(id: string, s: LoginSession, cluster: string, over: Partial<Family> = {}): Family {
  return { id, login_session_id: s.id, user_id: s.user_id, cluster, client_id: cluster, origin: 'page', created_at: s.created_at, last_used_at: NOW - MIN, expires_at: s.expires_at, generation: 0, revoked_at: null, revoke_reason: null, ...over };
}

const alice = user('u-a', 'alice', ['kubegate:dev']);
const bob = user('u-b', 'Bob', ['kubegate:ops', 'kubegate:dev']);
const sA1 = session('sA1', alice.id, { created_at: NOW - 10 * MIN });
const sA2 = session('sA2', alice.id, { created_at: NOW - 20 * MIN, upstream: 'corp', amr: ['pwd', 'mfa'] });
const sB = session('sB', bob.id, { created_at: NOW - 30 * MIN });
const sEnded = session('sE', bob.id, { created_at: NOW - 90 * MIN, revoked_at: NOW - 5 * MIN, revoke_reason: 'revoked_by_admin' });
const sExpired = session('sX', alice.id, { created_at: NOW - 200 * MIN, expires_at: NOW - MIN });
const input = {
  sessions: [sA1, sA2, sB, sEnded, sExpired],
  families: [family('fA1-dev', sA1, 'dev'), family('fA1-prod', sA1, 'prod', { revoked_at: NOW - MIN, revoke_reason: 'revoked_by_user' }), family('fB-prod', sB, 'prod')],
  users: new Map([alice, bob].map((u) => [u.id, u])),
};
const rows = (f: Partial<SessionFilters>) => adminSessionRows(input, { state: 'active', page: 1, ...f }, opts).rows.map((r) => r.id);

describe('adminSessionRows', () => {
  it('lists everyone’s active sign-ins, newest first, with user, groups, MFA and credentials', () => {
    const { rows: all, total } = adminSessionRows(input, { state: 'active', page: 1 }, opts);
    expect(all.map((r) => r.id)).toEqual(['sA1', 'sA2', 'sB']);
    expect(total).toBe(3);
    expect(all[0]).toMatchObject({ username: 'alice', groups: ['kubegate:dev'], endedAt: null, mfa: false });
    expect(all[0]!.credentials.map((c) => [c.id, c.status])).toEqual([
      ['fA1-dev', 'active'],
      ['fA1-prod', 'revoked'],
    ]);
    expect(all[1]).toMatchObject({ upstream: 'corp', mfa: true });
  });
  it('filters by part of the username in any case', () => {
    expect(rows({ user: 'BO' })).toEqual(['sB']);
    expect(rows({ user: 'ali' })).toEqual(['sA1', 'sA2']);
    expect(rows({ user: 'carol' })).toEqual([]);
  });
  it('filters by group and upstream', () => {
    expect(rows({ group: 'kubegate:ops' })).toEqual(['sB']);
    expect(rows({ group: 'kubegate:dev' })).toEqual(['sA1', 'sA2', 'sB']);
    expect(rows({ group: 'ops' })).toEqual([]);
    expect(rows({ upstream: 'corp' })).toEqual(['sA2']);
  });
  it('filters by cluster: sign-ins with a credential for it, showing only those credentials', () => {
    const r = adminSessionRows(input, { state: 'active', page: 1, cluster: 'prod' }, opts).rows;
    expect(r.map((x) => [x.id, x.credentials.map((c) => c.id)])).toEqual([
      ['sA1', ['fA1-prod']],
      ['sB', ['fB-prod']],
    ]);
  });
  it('shows ended sign-ins (revoked or expired) with why, or all', () => {
    const ended = adminSessionRows(input, { state: 'ended', page: 1 }, opts).rows;
    expect(ended.map((r) => [r.id, r.endedBecause, r.endedAt])).toEqual([
      ['sE', 'revoked_by_admin', NOW - 5 * MIN],
      ['sX', 'expired', NOW - MIN],
    ]);
    expect(rows({ state: 'all', user: 'bob' })).toEqual(['sB', 'sE']);
  });
  it('combines filters', () => expect(rows({ user: 'alice', upstream: 'local', cluster: 'dev' })).toEqual(['sA1']));
  it('pages, clamping a page past the end to the last one', () => {
    const many = Array.from({ length: SESSIONS_PAGE_SIZE + 3 }, (_, i) => session(`s${String(i).padStart(3, '0')}`, alice.id, { created_at: NOW - i * MIN }));
    const big = { ...input, sessions: many, families: [] };
    const p1 = adminSessionRows(big, { state: 'active', page: 1 }, opts);
    expect(p1).toMatchObject({ total: SESSIONS_PAGE_SIZE + 3, pages: 2 });
    expect(p1.rows).toHaveLength(SESSIONS_PAGE_SIZE);
    expect(adminSessionRows(big, { state: 'active', page: 9 }, opts).rows.map((r) => r.id)).toEqual(['s050', 's051', 's052']);
  });
  it('shows a session whose user row is gone by its user id', () => {
    const orphan = { ...input, sessions: [session('sO', 'u-gone')] };
    expect(adminSessionRows(orphan, { state: 'active', page: 1 }, opts).rows[0]).toMatchObject({ username: 'u-gone', groups: [] });
  });
});

describe('parseSessionFilters', () => {
  it('defaults to active sign-ins, page 1', () => expect(parseSessionFilters({})).toEqual({ filters: { state: 'active', page: 1 }, errors: [] }));
  it('reads every filter', () => {
    expect(parseSessionFilters({ user: 'al', cluster: 'dev', group: 'g', upstream: 'corp', state: 'ended', page: '2' })).toEqual({
      filters: { user: 'al', cluster: 'dev', group: 'g', upstream: 'corp', state: 'ended', page: 2 },
      errors: [],
    });
  });
  it('names each unusable field and keeps the rest', () => {
    const r = parseSessionFilters({ user: 'al', state: 'gone', page: '-1', cluster: 'x'.repeat(201) });
    expect(r.filters).toEqual({ user: 'al', state: 'active', page: 1 });
    expect(r.errors).toEqual(['cluster: at most 200 characters', 'state: must be one of active, ended, all', 'page: must be 1 or more']);
  });
});

describe('adminNotice', () => {
  it('knows the action outcomes and nothing else (no prototype keys)', () => {
    expect(adminNotice('session_revoked')).toMatch(/revoked/);
    expect(adminNotice('constructor')).toBeUndefined();
    expect(adminNotice(['session_revoked'])).toBeUndefined();
  });
});
