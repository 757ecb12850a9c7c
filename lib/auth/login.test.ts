import bcrypt from 'bcryptjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite';
import type { Store } from '../store/types';
import { verifyLocalPassword } from './local';
import { establishLoginSession } from './login';
import { rowId } from '../crypto/kek';
import { Rechecker } from '../upstream/recheck';
import { silentLogger } from '../util/log';
import { testKek } from '../../test/support/fixtures';

describe('login sessions', () => {
  let store: Store;
  const t = Date.UTC(2031, 0, 1);
  const now = () => t;
  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
  });
  afterEach(async () => {
    await store.close();
  });

  const profile = { upstream: 'corp', subject: 'u-1', username: 'alice', groups: ['dev'] };

  it('keeps one stable user across sign-ins, opens a session per sign-in, and audits each', async () => {
    const a = await establishLoginSession({ store, now, sessionLifetimeMs: 3_600_000 }, profile, { amr: ['pwd'], clientIp: '10.0.0.1', userAgent: 'x'.repeat(500) });
    const b = await establishLoginSession({ store, now, sessionLifetimeMs: 3_600_000 }, { ...profile, groups: ['ops'] }, { amr: ['pwd', 'mfa'] });
    expect(b.user.id).toBe(a.user.id);
    expect(b.user.groups).toEqual(['ops']);
    expect(b.session.id).not.toBe(a.session.id);
    expect(a.session.expires_at).toBe(t + 3_600_000);
    expect(a.session.user_agent).toHaveLength(300);
    expect((await store.listAudit({ limit: 10, kind: 'session.login' })).map((e) => e.session_id).sort()).toEqual([a.session.id, b.session.id].sort());
  });

  it('stores the connector\'s re-check state sealed for this person, and counts the sign-in as a check', async () => {
    const kek = await testKek();
    const rechecker = new Rechecker({ store, kek, now, log: silentLogger, connectorFor: () => undefined });
    const deps = { store, now, sessionLifetimeMs: 1000, sealRecheckState: rechecker.sealState };
    const { user } = await establishLoginSession(deps, profile, { amr: [], recheckState: 'upstream-refresh-token' });
    expect(user).toMatchObject({ checked_at: t, check_failing_since: null });
    const stored = (await store.getRecheckState(user.id))!;
    expect(stored).not.toContain('upstream-refresh-token');
    expect(await kek.open(rowId.recheckState('corp', 'u-1'), stored)).toBe('upstream-refresh-token');
    // A sign-in whose connector said nothing keeps it; one that said null clears it.
    await establishLoginSession(deps, profile, { amr: [] });
    expect(await store.getRecheckState(user.id)).toBe(stored);
    await establishLoginSession(deps, profile, { amr: [], recheckState: null });
    expect(await store.getRecheckState(user.id)).toBeNull();
    // Never in clear: without a sealer the sign-in fails before anything is written.
    await expect(establishLoginSession({ store, now, sessionLifetimeMs: 1000 }, profile, { amr: [], recheckState: 'x' })).rejects.toThrow(/sealed/);
    expect(await store.getRecheckState(user.id)).toBeNull();
  });

  it('takes the upstream auth_time, but never one in the future', async () => {
    const past = await establishLoginSession({ store, now, sessionLifetimeMs: 1000 }, profile, { amr: [], authTime: t - 5000 });
    const future = await establishLoginSession({ store, now, sessionLifetimeMs: 1000 }, profile, { amr: [], authTime: t + 5000 });
    expect(past.session.auth_time).toBe(t - 5000);
    expect(future.session.auth_time).toBe(t);
  });

  it('logs each sign-in at info: user, upstream and client address, never a token or the session id', async () => {
    const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
    const log = { info: (msg: string, fields: Record<string, unknown> = {}) => lines.push({ level: 'info', msg, fields }) };
    const { session } = await establishLoginSession({ store, now, log, sessionLifetimeMs: 60_000 }, profile, { amr: ['pwd'], clientIp: '10.0.0.1' });
    expect(lines).toEqual([{ level: 'info', msg: 'signed in', fields: { user: 'alice', upstream: 'corp', client_ip: '10.0.0.1', amr: ['pwd'] } }]);
    expect(JSON.stringify(lines)).not.toContain(session.id);
  });
});

describe('verifyLocalPassword', () => {
  const users = [{ username: 'root', password_hash: bcrypt.hashSync('right', 4), groups: [] }];
  it('accepts the right password only, for a known user only', async () => {
    expect((await verifyLocalPassword(users, 'root', 'right'))?.username).toBe('root');
    expect(await verifyLocalPassword(users, 'root', 'wrong')).toBeUndefined();
    expect(await verifyLocalPassword(users, 'nobody', 'right')).toBeUndefined();
  });
});
