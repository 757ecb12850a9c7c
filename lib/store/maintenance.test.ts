import { afterEach, describe, expect, it, vi } from 'vitest';
import { bodyOf, MINUTE, openTestEnv, SECOND, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { hashRefreshToken } from '../oidc/refresh-tokens';
import type { Logger } from '../util/log';
import { prunePass, startMaintenance } from './maintenance';

const DAY = 24 * 60 * MINUTE;
const RETENTION = 90 * DAY;

let env: TestEnv;
afterEach(async () => {
  vi.useRealTimers();
  await env?.close();
});

describe('prunePass', () => {
  it('keeps a live credential\'s spent tokens: a stolen one replayed after a pass is still caught as reuse and ends the credential', async () => {
    env = await openTestEnv();
    const minted = await env.mint('prod');
    env.clock.advance(30 * SECOND);
    const head = bodyOf<TokenSuccess>(await env.refresh(minted.refreshToken)).refresh_token;
    // Someone else signs out: that credential can never work again.
    const other = await env.mint('prod');
    await env.store.revokeLoginSession(other.session.id, 'sign_out', env.clock.now(), { kind: 'session.logout' });

    env.clock.advance(MINUTE); // well past the reuse grace window
    const counts = await prunePass(env.store, env.clock.now(), { retentionMs: RETENTION });
    expect(counts).toEqual({ tokens: 1, families: 0, sessions: 0, audit: 0, ephemeral: 0 });
    expect(await env.store.findRefreshContext(hashRefreshToken(other.refreshToken))).toBeUndefined();
    expect((await env.store.findRefreshContext(hashRefreshToken(minted.refreshToken)))!.token.used_at).not.toBeNull();

    // The thief replays the spent token after the pass: reuse, the credential is revoked.
    const replay = await env.refresh(minted.refreshToken);
    expect(replay.status).toBe(400);
    expect(bodyOf<{ error: string }>(replay).error).toBe('invalid_grant');
    expect((await env.store.getFamily(minted.family.id))!.revoke_reason).toBe('refresh_token_reuse');
    expect((await env.refresh(head)).status).toBe(400);

    // The next pass takes the now-ended credential's tokens too.
    expect((await prunePass(env.store, env.clock.now(), { retentionMs: RETENTION })).tokens).toBe(2);
  });

  it('deletes audit events older than the retention in chunks, and keeps the newer ones', async () => {
    env = await openTestEnv();
    const now = env.clock.now();
    for (let i = 0; i < 25; i++) await env.store.appendAudit({ kind: 'session.login_failed', request_id: `old-${i}` }, now - RETENTION - DAY + i);
    await env.store.appendAudit({ kind: 'session.login_failed', request_id: 'recent' }, now - RETENTION + DAY);
    const prune = vi.spyOn(env.store, 'prune');
    expect(await prunePass(env.store, now, { retentionMs: RETENTION, chunk: 10 })).toEqual({ tokens: 0, families: 0, sessions: 0, audit: 25, ephemeral: 0 });
    expect(prune).toHaveBeenCalledTimes(3);
    expect((await env.store.listAudit({ limit: 100, kind: 'session.login_failed' })).map((e) => e.request_id)).toEqual(['recent']);
  });

  it('stops after maxChunks; the next pass goes on', async () => {
    env = await openTestEnv();
    const now = env.clock.now();
    for (let i = 0; i < 7; i++) await env.store.appendAudit({ kind: 'session.login_failed' }, now - RETENTION - DAY);
    expect((await prunePass(env.store, now, { retentionMs: RETENTION, chunk: 2, maxChunks: 2 })).audit).toBe(4);
    expect((await prunePass(env.store, now, { retentionMs: RETENTION, chunk: 2 })).audit).toBe(3);
  });
});

describe('startMaintenance', () => {
  const logger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() }) satisfies Logger;

  it('prunes on its timer, logs what it deleted, and stops', async () => {
    env = await openTestEnv();
    await env.store.appendAudit({ kind: 'session.login_failed' }, env.clock.now() - RETENTION - DAY);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const log = logger();
    const m = startMaintenance(env.store, { now: env.clock.now, log, retentionMs: RETENTION, intervalMs: 10 * MINUTE, firstDelayMs: MINUTE });
    await vi.advanceTimersByTimeAsync(MINUTE - 1);
    expect(log.info).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(log.info).toHaveBeenCalledWith('pruned the store', { tokens: 0, families: 0, sessions: 0, audit: 1, ephemeral: 0 }));
    await m.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('logs a failed pass as a warning and tries again at the next interval', async () => {
    env = await openTestEnv();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const log = logger();
    const prune = vi.spyOn(env.store, 'prune').mockRejectedValueOnce(new Error('the disk holding the database is full'));
    const m = startMaintenance(env.store, { now: env.clock.now, log, retentionMs: RETENTION, intervalMs: 10 * MINUTE, firstDelayMs: MINUTE });
    await vi.advanceTimersByTimeAsync(MINUTE);
    await vi.waitFor(() => expect(log.warn).toHaveBeenCalledWith(expect.stringMatching(/pruning the store failed/), { error: 'the disk holding the database is full' }));
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    await vi.waitFor(() => expect(prune).toHaveBeenCalledTimes(2));
    await m.stop();
  });
});
