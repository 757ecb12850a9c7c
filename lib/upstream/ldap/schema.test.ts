import { describe, expect, it } from 'vitest';
import { formatPath } from '../../config/load';
import { LdapUpstreamSchema, memberAttribute } from './schema';

const minimal = {
  id: 'corp',
  type: 'ldap',
  url: 'ldaps://dc1.corp.example.com',
  bind_dn: 'cn=svc,dc=corp',
  bind_password: 'pw',
  user_search: { base_dn: 'ou=people,dc=corp' },
};

function problems(input: unknown): string[] {
  const r = LdapUpstreamSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

describe('LdapUpstreamSchema', () => {
  it('fills OpenLDAP defaults', () => {
    const c = LdapUpstreamSchema.parse(minimal);
    expect(c).toMatchObject({
      start_tls: false,
      connect_timeout: 5,
      timeout: 5,
      user_search: { scope: 'sub', filter: '(&(objectClass=person)(uid={username}))', subject_attribute: 'entryUUID', username_attribute: 'uid' },
      recheck_interval: 300,
    });
    expect(c.group_search).toBeUndefined();
  });

  it('member attribute defaults by mode', () => {
    const c = (mode: string) => LdapUpstreamSchema.parse({ ...minimal, group_search: { mode, base_dn: 'ou=g,dc=corp' } }).group_search!;
    expect(['member', 'member_uid', 'member_of', 'ad_in_chain'].map((m) => memberAttribute(c(m)))).toEqual(['member', 'memberUid', 'memberOf', 'member']);
  });

  it('reports every problem at once, by field', () => {
    const p = problems({
      ...minimal,
      url: 'https://dc1',
      bind_password: undefined,
      user_search: { base_dn: 'not a dn', filter: '(uid=alice)', subject_attribute: 'bad attr' },
      group_search: { mode: 'member_uid', nested: true, filter: '(objectClass=group' },
    });
    expect(p).toEqual(
      expect.arrayContaining([
        'url: must start with ldap:// or ldaps://',
        'user_search.base_dn: must be a DN such as "ou=people,dc=example,dc=org"',
        expect.stringMatching(/^user_search\.filter: must contain \{username\}/),
        expect.stringMatching(/^user_search\.subject_attribute: must be an LDAP attribute name/),
        expect.stringMatching(/^group_search\.filter: is not an LDAP filter/),
        'bind_password: give exactly one of "bind_password" or "bind_password_file"',
        'group_search.base_dn: is required for mode "member_uid"',
        'group_search.nested: is not possible with memberUid (it names users, not groups)',
      ]),
    );
  });

  it.each([
    [{ url: 'ldap://host/dc=corp' }, 'url: must be only scheme, host and port (the base DNs are separate settings)'],
    [{ url: 'ldaps://host', start_tls: true }, 'start_tls: is for ldap:// URLs; an ldaps:// connection is TLS from the start'],
    [{ bind_password_file: '/run/secrets/ldap' }, 'bind_password: give exactly one of "bind_password" or "bind_password_file"'],
    [{ bind_password: undefined, bind_password_file: 'relative/file' }, 'bind_password_file: must be an absolute path'],
    [{ certificate_authority: { file: 'ca.pem' } }, 'certificate_authority.file: must be an absolute path'],
    [{ group_search: { mode: 'ad_in_chain', base_dn: 'dc=corp', nested: true } }, 'group_search.nested: is implied by "ad_in_chain" (the directory resolves nesting)'],
    [{ user_search: { base_dn: 'dc=corp', filter: '(uid={username}' } }, expect.stringMatching(/^user_search\.filter: is not an LDAP filter/)],
    [{ timeout: '0s' }, 'timeout: must be between 1s and 120s (got 0s)'],
    [{ surprise: 1 }, expect.stringMatching(/surprise/)],
  ])('%j is refused', (over, message) => {
    expect(problems({ ...minimal, ...over })).toEqual([message]);
  });

  it('accepts an Active Directory setup', () => {
    const c = LdapUpstreamSchema.parse({
      ...minimal,
      url: 'ldap://dc1.corp.example.com:389',
      start_tls: true,
      certificate_authority: { file: '/etc/kubegate/corp-ca.pem' },
      bind_password: undefined,
      bind_password_file: '/run/secrets/ldap-bind',
      user_search: {
        base_dn: 'OU=People,DC=corp,DC=example,DC=com',
        filter: '(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))',
        subject_attribute: 'objectGUID',
        username_attribute: 'sAMAccountName',
        name_attribute: 'displayName',
      },
      group_search: { mode: 'ad_in_chain', base_dn: 'OU=Groups,DC=corp,DC=example,DC=com', filter: '(objectClass=group)' },
    });
    expect(c.group_search?.mode).toBe('ad_in_chain');
  });
});
