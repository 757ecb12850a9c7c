import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ALICE, bodyOf, openTestEnv, SECOND, T0, type TokenSuccess } from '../../test/support/fixtures';
import { DenialAudit } from '../oidc/denial-audit';
import { silentLogger } from '../util/log';
import { auditJsonLine, printAuditEvent } from './audit-stdout';
import { StoreUnavailableError } from './errors';
import { openSqliteStore, type SqliteStore } from './sqlite';
import type { AuditEvent, Store } from './types';

const MIN = 60_000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A store whose committed audit events are printed into `lines`, as the server prints them to stdout. */
async function printingStore(file = ':memory:'): Promise<{ store: SqliteStore; lines: string[]; events: () => Array<Record<string, unknown>> }> {
  const lines: string[] = [];
  const store = await openSqliteStore(file, { synchronous: 'normal', now: () => T0, onAudit: (e) => printAuditEvent(e, (l) => lines.push(l)) });
  cleanups.push(() => store.close());
  return { store, lines, events: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function seedFamily(store: Store) {
  const user = await store.upsertUser(ALICE, T0);
  const session = await store.createLoginSession(
    { id: randomUUID(), user_id: user.id, upstream: 'local', amr: ['pwd'], auth_time: T0, expires_at: T0 + 60 * MIN, client_ip: null, user_agent: null },
    T0,
  );
  const family = await store.createFamily(
    { id: randomUUID(), login_session_id: session.id, user_id: user.id, cluster: 'prod', client_id: 'kubernetes', origin: 'page', expires_at: T0 + 60 * MIN, first_token_hash: 'h0' },
    T0,
    { kind: 'token.issued', username: user.username },
  );
  return { user, session, family };
}

describe('audit events as JSON lines on stdout', () => {
  it('prints one line per event with every field, marked audit, times in ISO', () => {
    const event: AuditEvent = {
      id: '01',
      at: T0,
      kind: 'token.refreshed',
      user_id: 'u1',
      username: 'alice',
      cluster: 'prod',
      family_id: 'f1',
      session_id: 's1',
      client_ip: '192.0.2.1',
      request_id: 'r1',
      details: { generation: 2, refresh_token: 'kgr_oops' },
    };
    const line = auditJsonLine(event);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      level: 'info',
      msg: 'audit',
      audit: true,
      id: '01',
      kind: 'token.refreshed',
      at: '2031-01-01T00:00:00.000Z',
      user_id: 'u1',
      username: 'alice',
      cluster: 'prod',
      family_id: 'f1',
      session_id: 's1',
      client_ip: '192.0.2.1',
      request_id: 'r1',
      // Details never hold a token; one that did would still not be printed.
      details: { generation: 2, refresh_token: '[redacted]' },
    });
  });

  it('prints what each kind of write committed, exactly as stored, and nothing a guard did not apply', async () => {
    const { store, events } = await printingStore();
    const { family, session } = await seedFamily(store);
    expect(events().map((e) => e.kind)).toEqual(['token.issued']);

    // Grouped writes: a rotation, then the same token again (not applied: nothing printed).
    const rotation = { tokenHash: 'h0', successorHash: 'h1', familyId: family.id, generation: 0 };
    expect(await store.rotateRefreshToken(rotation, T0 + MIN, { kind: 'token.refreshed', details: { generation: 1 } })).toBe('rotated');
    expect(await store.rotateRefreshToken({ ...rotation, successorHash: 'h1b' }, T0 + MIN, { kind: 'token.refreshed', details: { generation: 1 } })).toBe('already_used');
    expect(await store.revokeFamily(family.id, 'revoked_by_client', T0 + 2 * MIN, { kind: 'family.revoked' })).toBe(true);
    expect(await store.revokeFamily(family.id, 'revoked_by_admin', T0 + 3 * MIN, { kind: 'family.revoked' })).toBe(false);
    // A transaction.
    expect(await store.revokeLoginSession(session.id, 'sign_out', T0 + 4 * MIN, { kind: 'session.logout' })).toBe(true);
    expect(await store.revokeLoginSession(session.id, 'sign_out', T0 + 5 * MIN, { kind: 'session.logout' })).toBe(false);
    await store.appendAudit({ kind: 'session.login_failed', client_ip: '198.51.100.7', details: { reason: 'bad_password' } }, T0 + 6 * MIN);

    const printed = events();
    expect(printed.map((e) => e.kind)).toEqual(['token.issued', 'token.refreshed', 'family.revoked', 'session.logout', 'session.login_failed']);
    // Line for line what the database holds (same ids, fields and details).
    const stored = (await store.listAudit({ limit: 100 })).reverse();
    expect(printed.map((e) => ({ ...e, time: undefined, at: Date.parse(e.at as string), audit: undefined, level: undefined, msg: undefined }))).toEqual(
      stored.map((e) => ({ ...e, time: undefined, audit: undefined, level: undefined, msg: undefined })),
    );
    expect(printed[2]).toMatchObject({ family_id: family.id, details: { reason: 'revoked_by_client' }, at: new Date(T0 + 2 * MIN).toISOString() });
  });

  it('prints nothing for a write that did not commit (a full disk), then the event once it does', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-audit-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { store, events } = await printingStore(path.join(dir, 'k.db'));
    const { session } = await seedFamily(store);
    const before = events().length;
    const { used } = await store.testingSetMaxPageCount(null);
    await store.testingSetMaxPageCount(used);
    const big = { note: 'x'.repeat(64 * 1024) };
    // A grouped write and a transaction, each failing whole.
    const results = await Promise.allSettled([
      store.appendAudit({ kind: 'session.login_failed', details: big }, T0 + MIN),
      store.revokeLoginSession(session.id, 'sign_out', T0 + MIN, { kind: 'session.logout', details: big }),
    ]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    }
    expect(events()).toHaveLength(before);
    expect((await store.getLoginSession(session.id))?.session.revoked_at).toBeNull();

    await store.testingSetMaxPageCount(1_000_000);
    expect(await store.revokeLoginSession(session.id, 'sign_out', T0 + 2 * MIN, { kind: 'session.logout', details: big })).toBe(true);
    expect(events().slice(before).map((e) => e.kind)).toEqual(['session.logout']);
  });

  it('prints the coalesced denial audit when it is flushed', async () => {
    const { store, events } = await printingStore();
    const denials = new DenialAudit();
    const denial = { reason: 'idle_timeout', family_id: 'f9', user_id: 'u9', username: 'bob', cluster: 'prod', session_id: 's9', client_ip: '192.0.2.9', request_id: 'r9', generation: 3 };
    for (let i = 0; i < 5; i++) denials.record(denial, T0 + i * SECOND);
    expect(events()).toEqual([]);
    await denials.flush(store, T0 + MIN, silentLogger);
    const printed = events();
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatchObject({ audit: true, kind: 'token.refresh_denied', family_id: 'f9', username: 'bob', client_ip: '192.0.2.9' });
  });

  it("a refresh's audit line carries no token", async () => {
    const lines: string[] = [];
    const store = await openSqliteStore(':memory:', { onAudit: (e) => printAuditEvent(e, (l) => lines.push(l)) });
    const env = await openTestEnv({ store });
    cleanups.push(() => env.close());
    const minted = await env.mint('prod');
    env.clock.advance(30 * SECOND);
    const res = await env.refresh(minted.refreshToken);
    expect(res.status, res.body).toBe(200);
    const body = bodyOf<TokenSuccess>(res);
    const refreshed = lines.filter((l) => (JSON.parse(l) as { kind: string }).kind === 'token.refreshed');
    expect(refreshed).toHaveLength(1);
    expect(JSON.parse(refreshed[0]!)).toMatchObject({ audit: true, family_id: minted.family.id, cluster: 'prod', request_id: 'req-test', details: { generation: 1 } });
    for (const secret of [minted.refreshToken, body.refresh_token, body.id_token, minted.idToken]) {
      for (const l of lines) expect(l).not.toContain(secret.slice(4, 30));
    }
  });
});
