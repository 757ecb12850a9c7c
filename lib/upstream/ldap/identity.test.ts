import { describe, expect, it } from 'vitest';
import { adBindRefusal, guidToBytes, guidToString, isDisabledByUserAccountControl, type LdapEntry, mapUserEntry, readSubject, subjectAssertion } from './identity';

const wire = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

describe('objectGUID', () => {
  it('reads the first three fields little-endian (MS-DTYP GUID layout)', () => {
    expect(guidToString(wire)).toBe('33221100-5544-7766-8899-aabbccddeeff');
  });

  it('guidToBytes is the inverse, case-insensitive', () => {
    expect(guidToBytes('33221100-5544-7766-8899-AABBCCDDEEFF')).toEqual(wire);
    expect(guidToBytes('not-a-guid')).toBeUndefined();
    expect(guidToString(Buffer.alloc(15))).toBeUndefined();
  });

  it('is the subject when configured, as text; other attributes are read as text', () => {
    const entry = { dn: 'cn=x', objectGUID: wire, entryUUID: 'e1', uid: 'alice' } as LdapEntry;
    expect(readSubject(entry, 'objectGUID')).toBe('33221100-5544-7766-8899-aabbccddeeff');
    expect(readSubject(entry, 'entryuuid')).toBe('e1');
    expect(readSubject({ dn: 'cn=x', objectGUID: 'text?' } as LdapEntry, 'objectGUID')).toBeUndefined();
    expect(subjectAssertion('objectGUID', '33221100-5544-7766-8899-aabbccddeeff')).toEqual(wire);
    expect(subjectAssertion('entryUUID', 'e1')).toBe('e1');
  });
});

describe('userAccountControl', () => {
  const uac = (v: string | undefined) => isDisabledByUserAccountControl({ dn: 'cn=x', ...(v === undefined ? {} : { userAccountControl: v }) } as LdapEntry);
  it.each([
    [undefined, false],
    ['512', false], // NORMAL_ACCOUNT
    ['514', true], // NORMAL_ACCOUNT | ACCOUNTDISABLE
    ['66048', false], // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    ['66050', true],
    ['2', true],
    ['garbage', true], // unreadable: fail closed
  ])('%s → disabled %s', (value, disabled) => {
    expect(uac(value)).toBe(disabled);
  });
});

describe('adBindRefusal', () => {
  const diag = (code: string) => `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data ${code}, v4563`;
  it('tells a disabled, expired or locked account apart (codes AD sends only for a right password)', () => {
    expect(adBindRefusal(diag('533'))).toEqual({ code: 'disabled', detail: 'Active Directory refused the bind: account disabled' });
    expect(adBindRefusal(diag('775'))?.code).toBe('disabled');
    expect(adBindRefusal(diag('701'))?.code).toBe('disabled');
  });
  it('leaves a wrong password or unknown user to the plain bad_credentials', () => {
    expect(adBindRefusal(diag('52e'))).toBeUndefined();
    expect(adBindRefusal(diag('525'))).toBeUndefined();
    expect(adBindRefusal('Invalid Credentials')).toBeUndefined();
  });
});

describe('mapUserEntry', () => {
  const attrs = { subject_attribute: 'entryUUID', username_attribute: 'uid', email_attribute: 'mail', name_attribute: 'cn' };
  it('takes the first value of each attribute, whatever case the server used', () => {
    const entry = { dn: 'uid=alice,ou=people', ENTRYUUID: 'u-1', uid: ['alice', 'alias'], mail: 'a@example.org', cn: ['Alice'] } as LdapEntry;
    expect(mapUserEntry(attrs, entry, ['g'])).toEqual({ subject: 'u-1', username: 'alice', email: 'a@example.org', name: 'Alice', groups: ['g'] });
  });
  it('never falls back to the DN or the email for a missing subject', () => {
    const entry = { dn: 'uid=alice,ou=people', uid: 'alice', mail: 'a@example.org' } as LdapEntry;
    expect(mapUserEntry(attrs, entry, []).subject).toBe('');
  });
});
