import { describe, expect, it } from 'vitest';
import { UpstreamRefusal } from '../types';
import { checkRequiredClaims, groupsOverage, readClaim, readOptionalString, readStringList, readUsername } from './claims';

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamRefusal);
    return err as UpstreamRefusal;
  }
  throw new Error('expected a refusal');
};

describe('readClaim', () => {
  const claims = {
    groups: ['a'],
    'https://example.com/groups': ['ns'],
    'cognito:groups': ['cg'],
    realm_access: { roles: ['realm-admin'] },
    resource_access: { kubernetes: { roles: ['k8s-view'] }, 'my.client': { roles: ['dotted'] } },
    'a.b': 'exact-wins',
    a: { b: 'nested-loses' },
    x: { 'y.z': { w: 'longest-first' }, y: { z: { w: 'shorter' } } },
    p: { 'q.r': 'dead-end', q: { r: { s: 'backtracked' } } },
    list: [{ roles: ['no'] }],
  };

  it.each([
    ['groups', ['a']],
    ['https://example.com/groups', ['ns']],
    ['cognito:groups', ['cg']],
    ['realm_access.roles', ['realm-admin']],
    ['resource_access.kubernetes.roles', ['k8s-view']],
    ['resource_access.my.client.roles', ['dotted']],
    // An exact top-level key wins over the nested path of the same spelling.
    ['a.b', 'exact-wins'],
    ['x.y.z.w', 'longest-first'],
    // `q.r` is a key but holds no `s`: the shorter key is tried next.
    ['p.q.r.s', 'backtracked'],
  ])('%s', (path, expected) => {
    expect(readClaim(claims, path)).toEqual(expected);
  });

  it.each(['missing', 'realm_access.missing', 'realm_access.roles.0', 'list.0.roles', 'groups.length', '__proto__', 'constructor', 'realm_access.__proto__', 'toString', ''])(
    '%s is absent',
    (path) => {
      expect(readClaim(claims, path)).toBeUndefined();
    },
  );

  it('does not walk into the prototype of a parsed JSON claim set', () => {
    const parsed = JSON.parse('{"__proto__": {"groups": ["evil"]}, "sub": "x"}') as Record<string, unknown>;
    expect(readClaim(parsed, 'groups')).toBeUndefined();
    // A literal "__proto__" key from JSON is an own key and may be named on purpose.
    expect(readClaim(parsed, '__proto__.groups')).toEqual(['evil']);
  });
});

describe('readStringList', () => {
  it('reads a string as a one-item list and a list as is', () => {
    expect(readStringList({ g: 'one' }, 'g')).toEqual(['one']);
    expect(readStringList({ g: ['a', 'b'] }, 'g')).toEqual(['a', 'b']);
    expect(readStringList({ r: { roles: [] } }, 'r.roles')).toEqual([]);
  });

  it('absent or null is undefined (no groups), not an error', () => {
    expect(readStringList({}, 'groups')).toBeUndefined();
    expect(readStringList({ groups: null }, 'groups')).toBeUndefined();
  });

  it.each([
    [{ groups: 42 }, 'groups', 'the "groups" claim must be a string or a list of strings (got a number)'],
    [{ groups: { a: 1 } }, 'groups', 'the "groups" claim must be a string or a list of strings (got an object)'],
    [{ groups: ['ok', 7] }, 'groups', 'the "groups" claim must be a string or a list of strings (item 2 is a number)'],
    [{ groups: ['ok', null] }, 'groups', 'the "groups" claim must be a string or a list of strings (item 2 is null)'],
    [{ realm_access: { roles: [['nested']] } }, 'realm_access.roles', 'the "realm_access.roles" claim must be a string or a list of strings (item 1 is a list)'],
  ])('refuses %j naming the claim', (claims, path, message) => {
    const r = refusal(() => readStringList(claims, path));
    expect(r.code).toBe('claims');
    expect(r.detail).toBe(message);
  });
});

describe('readUsername', () => {
  it('trims a string claim', () => {
    expect(readUsername({ preferred_username: ' alice ' }, 'preferred_username')).toBe('alice');
    expect(readUsername({ 'https://example.com/login': 'bob' }, 'https://example.com/login')).toBe('bob');
  });

  it.each([
    [{}, 'the upstream sent no "preferred_username" claim to use as the username'],
    [{ preferred_username: '  ' }, 'the "preferred_username" claim must be a non-empty string to be the username (got a string)'],
    [{ preferred_username: ['alice'] }, 'the "preferred_username" claim must be a non-empty string to be the username (got a list)'],
    [{ preferred_username: 12 }, 'the "preferred_username" claim must be a non-empty string to be the username (got a number)'],
  ])('refuses %j naming the claim', (claims, message) => {
    const r = refusal(() => readUsername(claims, 'preferred_username'));
    expect(r.code).toBe('claims');
    expect(r.detail).toBe(message);
  });
});

describe('readOptionalString', () => {
  it('reads strings, and anything else as null', () => {
    expect(readOptionalString({ email: 'a@b' }, 'email')).toBe('a@b');
    expect(readOptionalString({ email: '' }, 'email')).toBeNull();
    expect(readOptionalString({ email: ['a@b'] }, 'email')).toBeNull();
    expect(readOptionalString({}, 'email')).toBeNull();
  });
});

describe('checkRequiredClaims', () => {
  const claims = { email_verified: true, hd: 'example.com', amr: ['pwd', 'mfa'], tier: 3, org: { id: 'o1' }, verified_str: 'true' };

  it('passes when every rule holds', () => {
    expect(() =>
      checkRequiredClaims({ email_verified: true, hd: ['example.com', 'example.org'], amr: 'mfa', tier: 3, 'org.id': 'o1' }, claims),
    ).not.toThrow();
    expect(() => checkRequiredClaims({}, {})).not.toThrow();
  });

  it.each([
    [{ email_verified: true }, { email_verified: false }, 'required claim "email_verified" does not have an accepted value'],
    // Exact, type included: the string "true" is not true.
    [{ verified_str: true }, claims, 'required claim "verified_str" does not have an accepted value'],
    [{ tier: '3' }, claims, 'required claim "tier" does not have an accepted value'],
    [{ hd: 'example.com' }, { hd: 'evil.example' }, 'required claim "hd" does not have an accepted value'],
    [{ hd: ['example.com', 'example.org'] }, { hd: 'example.net' }, 'required claim "hd" does not have an accepted value'],
    [{ hd: 'example.com' }, {}, 'required claim "hd" is missing'],
    [{ hd: 'example.com' }, { hd: null }, 'required claim "hd" is missing'],
    [{ amr: 'mfa' }, { amr: ['pwd'] }, 'required claim "amr" does not have an accepted value'],
    [{ 'org.id': 'o1' }, { org: { id: 'o2' } }, 'required claim "org.id" does not have an accepted value'],
    // An object never equals a configured scalar.
    [{ hd: 'example.com' }, { hd: { value: 'example.com' } }, 'required claim "hd" does not have an accepted value'],
  ])('%j against %j is refused', (rules, actual, message) => {
    const r = refusal(() => checkRequiredClaims(rules, actual));
    expect(r.code).toBe('not_allowed');
    expect(r.detail).toBe(message);
  });

  it('never puts the claim value in the refusal', () => {
    const r = refusal(() => checkRequiredClaims({ email: 'admin@example.com' }, { email: 'someone.private@example.net' }));
    expect(r.detail).not.toContain('someone.private');
  });
});

describe('groupsOverage', () => {
  it('is the Entra ID distributed groups claim', () => {
    const claims = { sub: 'x', _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.windows.net/t/users/x/getMemberObjects' } } };
    expect(groupsOverage(claims, 'groups')).toBe(true);
    // Another claim configured as the groups: its absence is just "no groups".
    expect(groupsOverage(claims, 'roles')).toBe(false);
  });

  it('is `hasgroups: true` (implicit-flow tokens)', () => {
    expect(groupsOverage({ hasgroups: true }, 'groups')).toBe(true);
    expect(groupsOverage({ hasgroups: 'true' }, 'groups')).toBe(true);
    expect(groupsOverage({ hasgroups: false }, 'groups')).toBe(false);
  });

  it('is not an overage when the claim is present, or nothing says so', () => {
    expect(groupsOverage({ groups: ['a'], hasgroups: true }, 'groups')).toBe(false);
    expect(groupsOverage({}, 'groups')).toBe(false);
    expect(groupsOverage({ _claim_names: 'groups' }, 'groups')).toBe(false);
  });
});
