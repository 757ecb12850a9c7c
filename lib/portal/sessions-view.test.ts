import { describe, expect, it } from 'vitest';
import type { Family, LoginSession } from '../store/types';
import { credentialRow, credentialStatus, endedSessionRows, REVOKE_REASONS, revokeReasonText, sessionRows } from './sessions-view';

const NOW = Date.UTC(2031, 0, 1);
const MIN = 60_000;
const IDLE = 15 * MIN;

const session = (id: string, o: Partial<LoginSession> = {}): LoginSession => ({
  id, user_id: 'u', upstream: 'corp', amr: [], auth_time: NOW - 60 * MIN, created_at: NOW - 60 * MIN, expires_at: NOW + 60 * MIN,
  revoked_at: null, revoke_reason: null, client_ip: '10.0.0.1', user_agent: 'kubectl', last_seen_at: NOW - MIN, ...o,
});
const family = (id: string, sid: string, o: Partial<Family> = {}): Family => ({
  id, login_session_id: sid, user_id: 'u', cluster: 'prod', client_id: 'kubernetes', origin: 'page', created_at: NOW - 30 * MIN,
  last_used_at: NOW - MIN, expires_at: NOW + 60 * MIN, generation: 3, revoked_at: null, revoke_reason: null, ...o,
});

describe('credentialStatus', () => {
  it.each([
    ['used a minute ago', family('f', 's'), 'active'],
    ['idle exactly the timeout', family('f', 's', { last_used_at: NOW - IDLE }), 'active'],
    ['idle past the timeout', family('f', 's', { last_used_at: NOW - IDLE - 1 }), 'idle'],
    ['past its session end', family('f', 's', { expires_at: NOW }), 'expired'],
    ['revoked, whatever else', family('f', 's', { revoked_at: NOW - MIN, expires_at: NOW - 1 }), 'revoked'],
  ] as const)('%s → %s', (_, f, status) => {
    expect(credentialStatus(f, NOW, IDLE)).toBe(status);
  });
});

describe('sessionRows', () => {
  it('lists active sessions only, this browser first, each with its credentials newest first', () => {
    const rows = sessionRows(
      [
        session('old', { created_at: NOW - 120 * MIN }),
        session('mine', { created_at: NOW - 90 * MIN }),
        session('newest', { created_at: NOW - 10 * MIN }),
        session('revoked', { revoked_at: NOW - MIN }),
        session('expired', { expires_at: NOW }),
      ],
      [family('a', 'mine', { created_at: NOW - 50 * MIN }), family('b', 'mine', { created_at: NOW - 5 * MIN, cluster: 'stage' }), family('c', 'revoked')],
      { now: NOW, currentSessionId: 'mine', idleTimeoutMs: IDLE },
    );
    expect(rows.map((r) => [r.id, r.current])).toEqual([
      ['mine', true],
      ['newest', false],
      ['old', false],
    ]);
    expect(rows[0]!.credentials.map((c) => c.cluster)).toEqual(['stage', 'prod']);
    expect(rows[1]!.credentials).toEqual([]);
  });
});

describe('credentialRow', () => {
  const opts = { now: NOW, idleTimeoutMs: IDLE };

  it.each([
    ['page', 'cluster page'],
    ['download', 'kubeconfig download'],
    ['cli', 'command line'],
  ] as const)('labels a credential from the %s with where it came from', (origin, label) => {
    expect(credentialRow(family('f', 's', { origin }), opts)).toMatchObject({ origin, originLabel: label });
  });

  it('says "never" (null) for a credential that was never refreshed, and the time for one that was', () => {
    expect(credentialRow(family('f', 's', { created_at: NOW - 5 * MIN, last_used_at: NOW - 5 * MIN }), opts).lastRefreshedAt).toBeNull();
    expect(credentialRow(family('f', 's', { created_at: NOW - 5 * MIN, last_used_at: NOW - MIN }), opts).lastRefreshedAt).toBe(NOW - MIN);
  });

  it.each([
    ['sign_out', 'you signed out'],
    ['revoked_by_user', 'you revoked it'],
    ['revoked_by_admin', 'revoked by an administrator'],
    ['refresh_token_reuse', 'a refresh token it had already used was presented again, so it may have been copied'],
    ['offboarded', 'your access was removed by an administrator'],
    ['restored', "Kubegate's database was restored from a backup"],
  ] as const)('says why a credential revoked for %s was revoked', (reason, words) => {
    expect(credentialRow(family('f', 's', { revoked_at: NOW - MIN, revoke_reason: reason }), opts)).toMatchObject({ status: 'revoked', revokedBecause: words });
  });

  it('has words for every reason, and a plain "revoked" for unknown or missing ones', () => {
    for (const words of Object.values(REVOKE_REASONS)) expect(words.length).toBeGreaterThan(5);
    expect(revokeReasonText(null)).toBe('revoked');
    expect(revokeReasonText('toString')).toBe('revoked');
    expect(credentialRow(family('f', 's'), opts).revokedBecause).toBeUndefined();
  });
});

describe('endedSessionRows', () => {
  it('lists sign-ins that ended recently, newest first, each with why', () => {
    const rows = endedSessionRows(
      [
        session('active'),
        session('signed-out', { revoked_at: NOW - 10 * MIN, revoke_reason: 'sign_out' }),
        session('admin', { revoked_at: NOW - 2 * MIN, revoke_reason: 'revoked_by_admin' }),
        session('lifetime', { expires_at: NOW - 30 * MIN }),
        session('long-ago', { revoked_at: NOW - 25 * 60 * MIN, revoke_reason: 'sign_out' }),
      ],
      [family('a', 'admin'), family('b', 'admin'), family('c', 'active')],
      { now: NOW, withinMs: 24 * 60 * MIN, limit: 10 },
    );
    expect(rows.map((r) => [r.id, r.endedBecause, r.credentialCount])).toEqual([
      ['admin', 'revoked by an administrator', 2],
      ['signed-out', 'you signed out', 0],
      ['lifetime', 'its lifetime ran out', 0],
    ]);
    expect(endedSessionRows([session('x', { revoked_at: NOW - MIN }), session('y', { revoked_at: NOW - 2 * MIN })], [], { now: NOW, withinMs: 60 * MIN, limit: 1 }).map((r) => r.id)).toEqual(['x']);
  });
});
