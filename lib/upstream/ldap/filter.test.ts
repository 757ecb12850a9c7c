import { AndFilter, EqualityFilter, PresenceFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { escapeDnValue, escapeFilterValue, firstRdnValue, isUnderDn, normalizeDn, parseDn, userFilter, userFilterWithoutUsername } from './filter';

describe('escapeFilterValue (RFC 4515 §3)', () => {
  it.each([
    ['alice', 'alice'],
    ['*', '\\2a'],
    ['*)(uid=*', '\\2a\\29\\28uid=\\2a'],
    ['admin)(|(uid=*', 'admin\\29\\28|\\28uid=\\2a'],
    ['back\\slash', 'back\\5cslash'],
    ['nul\u0000', 'nul\\00'],
    ['\\2a', '\\5c2a'],
    ['Jürgen', 'Jürgen'],
  ])('%j → %j', (input, escaped) => {
    expect(escapeFilterValue(input)).toBe(escaped);
  });
});

describe('userFilter', () => {
  it('puts the escaped username where {username} is, once or several times, as one value', () => {
    const f = userFilter('(|(uid={username})(mail={username}))', '*)(uid=*');
    expect(f.toString()).toBe('(|(uid=\\2a\\29\\28uid=\\2a)(mail=\\2a\\29\\28uid=\\2a))');
  });

  it('a value that looks like a wildcard stays an equality match', () => {
    const f = userFilter('(uid={username})', '*');
    expect(f).toBeInstanceOf(EqualityFilter);
    expect((f as EqualityFilter).value).toBe('*');
  });

  it('keeps non-ASCII text as text (sent as UTF-8)', () => {
    const f = userFilter('(uid={username})', 'jürgen') as EqualityFilter;
    expect(f.value).toBe('jürgen');
  });
});

describe('userFilterWithoutUsername (re-check)', () => {
  it('turns (attr={username}) into (attr=*) and keeps the rest', () => {
    const f = userFilterWithoutUsername('(&(objectClass=person)(uid={username})(memberOf=cn=k8s,ou=groups,dc=example,dc=org))');
    expect(f).toBeInstanceOf(AndFilter);
    expect(f.toString()).toBe('(&(objectClass=person)(uid=*)(memberOf=cn=k8s,ou=groups,dc=example,dc=org))');
  });

  it('works inside OR and NOT, and for a lone equality', () => {
    expect(userFilterWithoutUsername('(|(uid={username})(mail={username}))').toString()).toBe('(|(uid=*)(mail=*))');
    expect(userFilterWithoutUsername('(sAMAccountName={username})')).toBeInstanceOf(PresenceFilter);
    expect(userFilterWithoutUsername('(&(uid={username})(!(nsAccountLock=TRUE)))').toString()).toBe('(&(uid=*)(!(nsAccountLock=TRUE)))');
  });
});

describe('escapeDnValue (RFC 4514 §2.4)', () => {
  it.each([
    ['plain', 'plain'],
    ['Smith, John', 'Smith\\, John'],
    ['a+b=c;d<e>f"g\\h', 'a\\+b\\=c\\;d\\<e\\>f\\"g\\\\h'],
    [' lead and trail ', '\\ lead and trail\\ '],
    ['#hash', '\\#hash'],
    ['mid#hash', 'mid#hash'],
    ['nul\u0000', 'nul\\00'],
    ['ops*)(cn=*\\', 'ops*)(cn\\=*\\\\'],
  ])('%j → %j', (value, escaped) => {
    expect(escapeDnValue(value)).toBe(escaped);
  });

  it('round-trips through parseDn', () => {
    for (const v of ['Smith, John', ' x ', '#1', 'a\\b', 'ops*)(cn=*\\', 'Jürgen', 'q"uote']) {
      expect(parseDn(`cn=${escapeDnValue(v)},dc=example`)?.[0]?.value).toBe(v);
    }
  });
});

describe('parseDn', () => {
  it('splits RDNs, undoes escapes (character and hex, UTF-8), and ignores spaces around separators', () => {
    expect(parseDn('cn=ops*)(cn\\3D*\\5C, ou=groups,dc=example')).toEqual([
      { type: 'cn', value: 'ops*)(cn=*\\' },
      { type: 'ou', value: 'groups' },
      { type: 'dc', value: 'example' },
    ]);
    expect(parseDn('CN=J\\C3\\BCrgen,DC=corp')?.[0]).toEqual({ type: 'CN', value: 'Jürgen' });
    expect(parseDn('cn=Jürgen 😀 ,dc=x')?.[0]?.value).toBe('Jürgen 😀');
    expect(parseDn('cn=trailing\\ ,dc=x')?.[0]?.value).toBe('trailing ');
  });

  it('keeps every component of a multi-valued RDN; normalizeDn tells such RDNs apart and ignores their order', () => {
    expect(parseDn('cn=a+uid=b,dc=x')).toEqual([
      { type: 'cn', value: 'a', more: [{ type: 'uid', value: 'b' }] },
      { type: 'dc', value: 'x' },
    ]);
    expect(normalizeDn('cn=a+uid=b,dc=x')).not.toBe(normalizeDn('cn=a+uid=c,dc=x'));
    expect(normalizeDn('cn=a+uid=b,dc=x')).toBe(normalizeDn('UID=b+CN=A,dc=x'));
  });

  it('refuses what is not a DN', () => {
    expect(parseDn('no equals sign')).toBeUndefined();
    expect(parseDn('(cn=x)')).toBeUndefined();
    expect(parseDn('cn=x\\')).toBeUndefined();
    expect(parseDn('cn=x,')).toBeUndefined();
  });

  it('firstRdnValue, normalizeDn and isUnderDn', () => {
    expect(firstRdnValue('CN=Platform Team,OU=Groups,DC=corp,DC=example,DC=com')).toBe('Platform Team');
    expect(normalizeDn('CN=Platform Team, OU=Groups,DC=Corp')).toBe(normalizeDn('cn=platform team,ou=groups,dc=corp'));
    expect(normalizeDn('cn=a\\2Cb,dc=x')).toBe(normalizeDn('cn=a\\,b,dc=x'));
    expect(isUnderDn('cn=x,OU=Groups,dc=corp', 'ou=groups,DC=corp')).toBe(true);
    expect(isUnderDn('cn=x,ou=other,dc=corp', 'ou=groups,dc=corp')).toBe(false);
    expect(isUnderDn('cn=x,ou=evilgroups,dc=corp', 'ou=groups,dc=corp')).toBe(false);
  });
});
