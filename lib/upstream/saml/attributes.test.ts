import { describe, expect, it } from 'vitest';
import { finalizeIdentity } from '../base';
import type { VerifiedAssertion } from './assertion';
import { amrFor, mapAttributes } from './attributes';
import { NAMEID_PERSISTENT, SamlUpstreamSchema } from './schema';

const ENTRA_OID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const assertion = (attrs: Record<string, string[]>, nameId: VerifiedAssertion['nameId'] = { value: 'p-123', format: NAMEID_PERSISTENT }): VerifiedAssertion => ({
  nameId,
  confirmations: [],
  conditionsCount: 1,
  attributes: new Map(Object.entries(attrs)),
});
const mapping = { email_attribute: 'email', name_attribute: 'displayName', groups_attribute: 'groups' };

describe('mapAttributes', () => {
  it('uses the persistent NameID as subject and username by default', () => {
    expect(mapAttributes(assertion({ email: ['a@x.test'], displayName: ['A'], groups: ['g1', 'g2'] }), mapping)).toEqual({
      subject: 'p-123',
      username: 'p-123',
      email: 'a@x.test',
      name: 'A',
      groups: ['g1', 'g2'],
    });
  });

  it('takes subject and username from configured attributes (Entra ID object id, UPN)', () => {
    const raw = mapAttributes(assertion({ [ENTRA_OID]: ['oid-1'], upn: ['alice@corp.test'] }, { value: 'alice@corp.test', format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' }), {
      ...mapping,
      subject_attribute: ENTRA_OID,
      username_attribute: 'upn',
    });
    expect(raw).toMatchObject({ subject: 'oid-1', username: 'alice@corp.test', groups: [] });
  });

  it.each([
    ['a transient NameID without subject_attribute', assertion({}, { value: 't', format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient' }), {}, /not persistent/],
    ['a NameID without a format', assertion({}, { value: 't' }), {}, /"unspecified", not persistent/],
    ['no NameID', { ...assertion({}), nameId: undefined }, {}, /no NameID/],
    ['a missing subject attribute', assertion({}), { subject_attribute: 'oid' }, /no attribute "oid"/],
    ['a multi-valued username', assertion({ uid: ['a', 'b'] }), { username_attribute: 'uid' }, /2 values; one is required/],
  ])('refuses %s (code claims)', (_what, a, extra, detail) => {
    expect(() => mapAttributes(a, { ...mapping, ...extra })).toThrow(expect.objectContaining({ code: 'claims', detail: expect.stringMatching(detail) }));
  });

  it('then applies the shared prefix and allow-list rules', () => {
    const config = SamlUpstreamSchema.parse({ id: 'okta', type: 'saml', idp_metadata: '<x/>', username_prefix: 'okta:', groups_prefix: 'okta:', group_allowlist: ['k8s-*'] });
    const identity = finalizeIdentity(config, mapAttributes(assertion({ uid: ['alice'], groups: ['k8s-admins', 'sales', 'k8s-admins'] }), { ...config, username_attribute: 'uid' }));
    expect(identity).toMatchObject({ upstream: 'okta', subject: 'p-123', username: 'okta:alice', groups: ['okta:k8s-admins'] });
  });
});

describe('amrFor', () => {
  it.each([
    ['urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport', ['pwd']],
    ['http://schemas.microsoft.com/claims/multipleauthn', ['mfa']],
    ['urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified', []],
    [undefined, []],
  ])('%s → %j', (ref, amr) => expect(amrFor(ref)).toEqual(amr));
});
