import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALICE, openTestEnv, type TestEnv } from '../../test/support/fixtures';
import { AUDIT_KINDS } from '../store/types';
import { AppError } from '../util/errors';
import { AdminError, listSessions, parseAuditKind, resetMfa, revokeSession, revokeUser, showAudit } from './commands';

// What a terminal acts on: C0 (ESC, BEL, line breaks…), DEL, C1, bidi controls, line separators.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = '\u001b]0;owned\u0007\u009b2J\u202eevil\nfake row';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

describe('admin commands', () => {
  it('lists active sessions with their live credentials, filtered by user', async () => {
    const minted = await env.mint('prod');
    const lines = await listSessions(env.store, { now: env.clock.now() });
    expect(lines[0]).toMatch(/^SESSION\s+USER\s+UPSTREAM/);
    expect(lines.join('\n')).toContain(minted.family.login_session_id);
    expect(await listSessions(env.store, { now: env.clock.now(), username: 'nobody' })).toEqual(['no active sessions for nobody']);
  });

  it('revokes one session, then says it already was; an unknown id is an error', async () => {
    const minted = await env.mint('prod');
    const id = minted.family.login_session_id;
    expect((await revokeSession(env.store, id, env.clock.now()))[0]).toMatch(/^revoked session/);
    expect((await env.store.getFamily(minted.family.id))!.revoked_at).not.toBeNull();
    expect((await revokeSession(env.store, id, env.clock.now()))[0]).toMatch(/already revoked/);
    await expect(revokeSession(env.store, 'nope', env.clock.now())).rejects.toThrow(AdminError);
    // An expected error: an AppError with a code, which the CLI prints without a stack.
    await expect(revokeSession(env.store, 'nope', env.clock.now())).rejects.toMatchObject({ code: 'not_found' });
    expect(new AdminError('usage', 'x')).toBeInstanceOf(AppError);
  });

  it('revokes every session of a user and audits it, never printing a token', async () => {
    const a = await env.mint('prod');
    const user = (await env.store.getLoginSession(a.family.login_session_id))!.user;
    expect(await revokeUser(env.store, user.username, env.clock.now())).toEqual([
      `revoked 1 session(s) of ${user.username} and every credential minted from them`,
    ]);
    const audit = (await showAudit(env.store, { limit: 10 })).join('\n');
    expect(audit).toContain('session.revoked');
    expect(audit).not.toContain(a.refreshToken);
    expect(audit).not.toContain(a.idToken);
  });

  // Regression: a failed sign-in as `ESC]0;…BEL` stored that username, and `kubegate audit` wrote the escape
  // sequence straight into the admin's terminal.
  it('escapes control and bidi characters from stored values in every text output', async () => {
    await env.store.appendAudit({ kind: 'session.login_failed', username: HOSTILE, client_ip: '203.0.113.9\u001b[1m', details: { upstream: 'local', note: HOSTILE } }, env.clock.now());
    const minted = await env.mint('prod', await env.signIn({ ...ALICE, subject: 'hostile', username: HOSTILE }));
    const outputs = [
      ...(await showAudit(env.store, { limit: 10 })),
      ...(await listSessions(env.store, { now: env.clock.now() })),
      ...(await listSessions(env.store, { now: env.clock.now(), username: 'nobody\u001b[2J' })),
      ...(await revokeUser(env.store, HOSTILE, env.clock.now())),
      ...(await revokeSession(env.store, minted.family.login_session_id, env.clock.now())),
    ];
    for (const line of outputs) expect(line, JSON.stringify(line)).not.toMatch(TERMINAL_CONTROL);
    const audit = (await showAudit(env.store, { limit: 10, kind: 'session.login_failed' })).join('\n');
    expect(audit).toContain('\\x1b]0;owned\\x07\\x9b2J\\u202eevil\\x0afake row');
    // A line break in a value cannot fake a row: one header, one event.
    expect(audit.split('\n')).toHaveLength(2);
  });

  it('prints audit events under a header row, in aligned columns', async () => {
    await env.mint('prod');
    const lines = await showAudit(env.store, { limit: 10 });
    expect(lines[0]).toMatch(/^TIME\s+KIND\s+USER\s+CLUSTER\s+FROM\s+DETAILS$/);
    expect(lines.slice(1).every((l) => l.indexOf('token.issued') === -1 || l.indexOf('token.issued') === lines[0]!.indexOf('KIND'))).toBe(true);
    expect(lines.some((l) => /token\.issued\s+alice\s+prod/.test(l))).toBe(true);
    expect(await showAudit(env.store, { limit: 10, kind: 'key.revoked' })).toEqual(['no key.revoked events']);
  });

  it('--json: one JSON object per line, values exact', async () => {
    await env.store.appendAudit({ kind: 'session.login_failed', username: HOSTILE, details: { reason: 'bad_credentials' } }, env.clock.now());
    env.clock.advance(1000);
    const minted = await env.mint('prod');
    const audit = await showAudit(env.store, { limit: 10, format: 'json' });
    for (const line of audit) expect(line).not.toMatch(TERMINAL_CONTROL);
    const events = audit.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.kind === 'session.login_failed')).toMatchObject({ user: HOSTILE, details: { reason: 'bad_credentials' } });
    expect(events.at(-1)).toMatchObject({ kind: 'token.issued', user: 'alice', cluster: 'prod', family_id: minted.family.id });
    expect(events.at(-1)!.at).toBe(new Date(env.clock.now()).toISOString());

    const sessions = (await listSessions(env.store, { now: env.clock.now(), format: 'json' })).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(sessions).toEqual([
      expect.objectContaining({ session: minted.family.login_session_id, user: 'alice', upstream: 'local', credentials: 1, client_ip: '192.0.2.10' }),
    ]);
    expect(await listSessions(env.store, { now: env.clock.now(), format: 'json', username: 'nobody' })).toEqual([]);
  });

  it('refuses an unknown --kind, listing every kind', () => {
    expect(parseAuditKind(undefined)).toBeUndefined();
    expect(parseAuditKind('token.reuse_detected')).toBe('token.reuse_detected');
    expect(() => parseAuditKind('token.reuse')).toThrow(AdminError);
    try {
      parseAuditKind('token.reuse');
    } catch (err) {
      expect((err as AdminError).code).toBe('unknown_kind');
      for (const kind of AUDIT_KINDS) expect((err as Error).message).toContain(`  ${kind}`);
    }
  });

  it('reset-mfa removes a user’s factors and recovery codes, audited; an unknown user is an error', async () => {
    const { user } = await env.signIn(ALICE);
    await env.store.addMfaFactor({ id: '00000000-0000-4000-8000-000000000001', user_id: user.id, kind: 'totp', name: 'Phone', data: 'x', credential_id: null, confirmed: true }, env.clock.now());
    await env.store.replaceRecoveryCodes(user.id, ['a', 'b'], env.clock.now(), { kind: 'mfa.recovery_regenerated' });
    expect(await resetMfa(env.store, 'alice', env.clock.now())).toEqual([
      'reset second factors of alice (upstream local): 1 factor(s) and 2 recovery code(s) removed',
    ]);
    expect(await env.store.listMfaFactors(user.id)).toEqual([]);
    expect((await env.store.listAudit({ limit: 1, kind: 'mfa.reset' }))[0]).toMatchObject({ user_id: user.id, details: { by: 'admin-command', factors: 1, recovery_codes: 2 } });
    await expect(resetMfa(env.store, 'nobody', env.clock.now())).rejects.toBeInstanceOf(AdminError);
  });
});
