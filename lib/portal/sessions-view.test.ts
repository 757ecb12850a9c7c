import { describe, expect, it } from 'vitest';
import type { Family, LoginSession } from '../store/types';
import { credentialStatus, sessionRows } from './sessions-view';

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
