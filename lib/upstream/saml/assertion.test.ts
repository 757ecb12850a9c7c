import { describe, expect, it } from 'vitest';
import { UpstreamRefusal } from '../types';
import { checkAssertion, inspectResponse, isSha1Algorithm, readAssertion, type AssertionExpectations } from './assertion';

const T = Date.UTC(2031, 0, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const ACS = 'https://kubegate.test/api/upstream/corp/acs';
const SP = 'https://kubegate.test/api/upstream/corp/metadata';
const IDP = 'https://idp.test/entity';
const NS = 'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"';

interface A {
  issuer?: string;
  audience?: string[][];
  notBefore?: number;
  notOnOrAfter?: number | null;
  recipient?: string;
  scdNotOnOrAfter?: number | null;
  method?: string;
  inResponseTo?: string;
  conditions?: number;
}

function assertion(a: A = {}): string {
  const aud = (a.audience ?? [[SP]]).map((list) => `<saml:AudienceRestriction>${list.map((x) => `<saml:Audience>${x}</saml:Audience>`).join('')}</saml:AudienceRestriction>`).join('');
  const notOnOrAfter = a.notOnOrAfter === null ? '' : ` NotOnOrAfter="${iso(a.notOnOrAfter ?? T + 300_000)}"`;
  const scdNotOnOrAfter = a.scdNotOnOrAfter === null ? '' : ` NotOnOrAfter="${iso(a.scdNotOnOrAfter ?? T + 300_000)}"`;
  const conditions = `<saml:Conditions NotBefore="${iso(a.notBefore ?? T - 30_000)}"${notOnOrAfter}>${aud}</saml:Conditions>`;
  return (
    `<saml:Assertion ${NS} ID="_a1" Version="2.0" IssueInstant="${iso(T)}"><saml:Issuer>${a.issuer ?? IDP}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">u-1</saml:NameID>` +
    `<saml:SubjectConfirmation Method="${a.method ?? 'urn:oasis:names:tc:SAML:2.0:cm:bearer'}"><saml:SubjectConfirmationData Recipient="${a.recipient ?? ACS}"${scdNotOnOrAfter} InResponseTo="${a.inResponseTo ?? '_req1'}"/></saml:SubjectConfirmation></saml:Subject>` +
    conditions.repeat(a.conditions ?? 1) +
    `<saml:AuthnStatement AuthnInstant="${iso(T - 5000)}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    `<saml:AttributeStatement><saml:Attribute Name="urn:oid:1.3.6.1.4.1.5923.1.5.1.1" FriendlyName="isMemberOf"><saml:AttributeValue>a</saml:AttributeValue><saml:AttributeValue>b</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>` +
    `</saml:Assertion>`
  );
}

const expectations: AssertionExpectations = { idpEntityId: IDP, spEntityId: SP, acsUrl: ACS, skewMs: 60_000, now: T };
const check = (a: A, e: Partial<AssertionExpectations> = {}) => checkAssertion(readAssertion(assertion(a)), { ...expectations, ...e });
const refusedWith = (fn: () => unknown, detail: RegExp) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UpstreamRefusal);
    expect((e as UpstreamRefusal).code).toBe('invalid_response');
    expect((e as UpstreamRefusal).detail).toMatch(detail);
    return;
  }
  throw new Error('not refused');
};

describe('readAssertion', () => {
  it('reads subject, confirmation, conditions, authn context and attributes by Name and FriendlyName', () => {
    const a = readAssertion(assertion());
    expect(a).toMatchObject({ id: '_a1', issuer: IDP, nameId: { value: 'u-1', format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent' } });
    expect(a.confirmations[0]).toMatchObject({ recipient: ACS, inResponseTo: '_req1' });
    expect(a.authnContextClassRef).toBe('urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport');
    expect(a.attributes.get('isMemberOf')).toEqual(['a', 'b']);
    expect(a.attributes.get('urn:oid:1.3.6.1.4.1.5923.1.5.1.1')).toEqual(['a', 'b']);
  });

  it('refuses anything but an Assertion, and DOCTYPEs', () => {
    refusedWith(() => readAssertion('<x/>'), /not a saml:Assertion/);
    refusedWith(() => readAssertion(`<!DOCTYPE a>${assertion()}`), /DOCTYPE/);
  });
});

describe('checkAssertion (Web SSO profile checks, injected clock)', () => {
  it('accepts a current assertion for us, remembering it until its confirmation ends plus skew', () => {
    expect(check({})).toEqual({ inResponseTo: '_req1', usableUntil: T + 300_000 + 60_000, authTime: T - 5000 });
  });

  it.each<[string, A, Partial<AssertionExpectations>, RegExp]>([
    ['another issuer', { issuer: 'https://evil.test' }, {}, /Issuer/],
    ['another audience', { audience: [['https://other.test']] }, {}, /audience/],
    ['a second restriction without us (restrictions are ANDed)', { audience: [[SP], ['https://other.test']] }, {}, /audience/],
    ['no audience restriction', { audience: [] }, {}, /no AudienceRestriction/],
    ['an expired assertion', { notOnOrAfter: T - 61_000 }, {}, /expired/],
    ['a future assertion beyond the skew', { notBefore: T + 61_000 }, {}, /not valid before/],
    ['another Recipient', { recipient: 'https://other.test/acs' }, {}, /Recipient/],
    ['an expired confirmation', { scdNotOnOrAfter: T - 61_000 }, {}, /subject confirmation expired/],
    ['a confirmation without NotOnOrAfter', { scdNotOnOrAfter: null }, {}, /no NotOnOrAfter/],
    ['a holder-of-key confirmation only', { method: 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key' }, {}, /no bearer/],
    ['two Conditions', { conditions: 2 }, {}, /more than one Conditions/],
  ])('refuses %s', (_what, a, e, detail) => refusedWith(() => check(a, e), detail));

  it('tolerates clocks apart by less than the skew, both ways', () => {
    expect(() => check({ notBefore: T + 59_000 })).not.toThrow();
    expect(() => check({ notOnOrAfter: T - 59_000, scdNotOnOrAfter: T - 59_000 })).not.toThrow();
    expect(() => check({ notBefore: T + 1000 }, { skewMs: 0 })).toThrow(/not valid before/);
  });
});

describe('inspectResponse', () => {
  const wrap = (inner: string, attrs = '') =>
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" Version="2.0" IssueInstant="${iso(T)}"${attrs}><saml:Issuer>${IDP}</saml:Issuer>${inner}</samlp:Response>`;

  it('reads Destination, InResponseTo and Issuer', () => {
    expect(inspectResponse(wrap(assertion(), ` Destination="${ACS}" InResponseTo="_req1"`))).toEqual({ destination: ACS, inResponseTo: '_req1', issuer: IDP, sha1Algorithms: [] });
  });

  it('counts assertions anywhere in the document, not only as children', () => {
    refusedWith(() => inspectResponse(wrap(`<samlp:Extensions>${assertion()}</samlp:Extensions>${assertion()}`)), /2 Assertion elements/);
  });

  it('counts a look-alike Assertion in another namespace too', () => {
    refusedWith(() => inspectResponse(wrap(`<x:Assertion xmlns:x="urn:evil"/>${assertion()}`)), /2 Assertion elements/);
  });

  it('refuses encrypted assertions, other roots and error statuses with their message', () => {
    refusedWith(() => inspectResponse(wrap('<saml:EncryptedAssertion/>')), /EncryptedAssertion/);
    refusedWith(() => inspectResponse(assertion()), /expected a samlp:Response/);
    refusedWith(
      () => inspectResponse(wrap('<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/><samlp:StatusMessage>user not assigned</samlp:StatusMessage></samlp:Status>')),
      /Responder: user not assigned/,
    );
  });

  it('lists SHA-1 signature and digest algorithms', () => {
    const sig = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/><ds:Reference><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ds:Reference></ds:SignedInfo></ds:Signature>`;
    expect(inspectResponse(wrap(sig + assertion())).sha1Algorithms).toEqual(['http://www.w3.org/2000/09/xmldsig#rsa-sha1']);
  });

  it.each([
    ['http://www.w3.org/2000/09/xmldsig#rsa-sha1', true],
    ['http://www.w3.org/2000/09/xmldsig#sha1', true],
    ['http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1', true],
    ['http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', false],
    ['http://www.w3.org/2001/04/xmlenc#sha256', false],
  ])('isSha1Algorithm(%s) = %s', (uri, sha1) => expect(isSha1Algorithm(uri)).toBe(sha1));
});
