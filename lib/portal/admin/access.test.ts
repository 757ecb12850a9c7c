import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load';
import { adminGate, consolePath, gateRedirect, isAdmin } from './access';

const MIN = 60_000;
const NOW = Date.UTC(2026, 0, 1, 12);
const policy = { groups: ['kubegate:admins'], reauth_after: 15 * 60 };

describe('isAdmin', () => {
  it.each([
    [['kubegate:admins'], ['kubegate:admins'], true],
    [['kubegate:admins'], ['kubegate:dev', 'kubegate:admins'], true],
    [['kubegate:admins'], ['kubegate:dev'], false],
    [['kubegate:admins'], ['admins'], false],
    // No groups configured: the console is off, whatever groups anyone has.
    [[], ['kubegate:admins'], false],
    [[], [], false],
  ])('groups %j, member of %j → %s', (groups, member, expected) => {
    expect(isAdmin({ groups }, member)).toBe(expected);
  });
});

describe('adminGate', () => {
  const gate = (over: { groups?: string[]; authAgoMin?: number; amr?: string[]; factors?: number }) =>
    adminGate({
      policy,
      groups: over.groups ?? ['kubegate:admins'],
      session: { created_at: NOW - (over.authAgoMin ?? 1) * MIN, amr: over.amr ?? ['pwd'] },
      enrolledFactors: over.factors ?? 0,
      now: NOW,
    });

  it('lets in an admin who signed in recently', () => expect(gate({ authAgoMin: 1 })).toBe('ok'));
  it('is not found for anyone else, before any other check', () => expect(gate({ groups: ['kubegate:dev'], authAgoMin: 600, factors: 2 })).toBe('not_found'));
  it('accepts a sign-in exactly reauth_after old and asks for a new one after', () => {
    expect(gate({ authAgoMin: 15 })).toBe('ok');
    expect(adminGate({ policy, groups: ['kubegate:admins'], session: { created_at: NOW - 15 * MIN - 1, amr: ['pwd'] }, enrolledFactors: 0, now: NOW })).toBe('reauth');
  });
  // Regression: the age was the upstream's auth_time; an IdP with a long SSO session reports its own older
  // sign-in, so "sign in again" came back just as old, forever.
  it('judges the age of Kubegate’s sign-in, not the upstream’s older auth_time', () => {
    const session = { created_at: NOW - MIN, auth_time: NOW - 8 * 60 * MIN, amr: ['pwd'] };
    expect(adminGate({ policy, groups: ['kubegate:admins'], session, enrolledFactors: 0, now: NOW })).toBe('ok');
  });
  it('asks for a new sign-in when the sign-in is dated in the future (a clock step must not open a long window)', () => expect(gate({ authAgoMin: -5 })).toBe('reauth'));
  it('asks for the second factor when the admin has one and this session has not shown it', () => {
    expect(gate({ factors: 1, amr: ['pwd'] })).toBe('mfa');
    expect(gate({ factors: 1, amr: ['pwd', 'otp', 'mfa'] })).toBe('ok');
  });
  it('asks for a recent sign-in before the second factor (MFA on an old session does not help)', () => expect(gate({ authAgoMin: 60, factors: 1, amr: ['pwd', 'mfa'] })).toBe('reauth'));
});

describe('gateRedirect and consolePath', () => {
  it('sends an old sign-in to sign in again and a missing factor to /mfa, back to the console page', () => {
    expect(gateRedirect('reauth', '/admin/audit?kind=session.revoked')).toBe('/login?prompt=login&next=%2Fadmin%2Faudit%3Fkind%3Dsession.revoked');
    expect(gateRedirect('mfa', '/admin')).toBe('/mfa?next=%2Fadmin');
  });
  it.each(['https://evil.example/admin', '//evil.example/admin', '/administrator', '/', '/sessions', undefined])('never returns anywhere but the console (%s → /admin)', (next) => {
    expect(consolePath(next)).toBe('/admin');
  });
  it.each(['/admin', '/admin/audit', '/admin?user=a', '/admin/clusters?cluster=dev'])('keeps a console path (%s)', (next) => expect(consolePath(next)).toBe(next));
});

describe('the admin config block', () => {
  const parse = (extra: string) => parseConfig(`issuer: { url: https://login.example.com }\n${extra}`, { source: 'kubegate.yaml' });
  it('is off by default (no groups), with a 15 minute re-authentication window', () => {
    expect(parse('').admin).toEqual({ groups: [], reauth_after: 900 });
    expect(isAdmin(parse('').admin, ['admins'])).toBe(false);
  });
  it('reads groups and a duration', () => {
    expect(parse('admin: { groups: [platform-admins], reauth_after: 5m }').admin).toEqual({ groups: ['platform-admins'], reauth_after: 300 });
  });
  it('names a bad field', () => {
    expect(() => parse('admin: { groups: [""], reauth_after: 10s, owners: [x] }')).toThrow(/admin\.groups\[0\][\s\S]*admin\.reauth_after: must be between 60s[\s\S]*owners/);
  });
});
