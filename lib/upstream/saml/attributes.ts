import type { RawIdentity } from '../base';
import { UpstreamRefusal } from '../types';
import type { VerifiedAssertion } from './assertion';
import { NAMEID_PERSISTENT } from './schema';

export interface AttributeMapping {
  subject_attribute?: string;
  username_attribute?: string;
  email_attribute: string;
  name_attribute: string;
  groups_attribute: string;
}

const claims = (detail: string): never => {
  throw new UpstreamRefusal('claims', detail);
};

function single(a: VerifiedAssertion, name: string, required: boolean): string | undefined {
  const values = a.attributes.get(name);
  if (!values || values.length === 0) return required ? claims(`the assertion has no attribute ${JSON.stringify(name)}`) : undefined;
  // A subject or username that is ambiguous is no identity at all.
  if (values.length > 1 && required) claims(`the attribute ${JSON.stringify(name)} has ${values.length} values; one is required`);
  return values[0];
}

/**
 * Maps a verified assertion to what the IdP says about the person. The
 * subject is the persistent NameID unless an attribute is configured: a
 * transient, email or unspecified NameID can change or be reassigned, and
 * the subject is what the user table keys people by.
 */
export function mapAttributes(a: VerifiedAssertion, m: AttributeMapping): RawIdentity {
  let subject: string;
  if (m.subject_attribute) {
    subject = single(a, m.subject_attribute, true)!;
  } else {
    if (!a.nameId) claims('the assertion has no NameID');
    if (a.nameId!.format !== NAMEID_PERSISTENT) {
      claims(`the NameID format is ${JSON.stringify(a.nameId!.format ?? 'unspecified')}, not persistent; configure the IdP to send a persistent NameID or set subject_attribute`);
    }
    subject = a.nameId!.value;
  }
  const username = m.username_attribute ? single(a, m.username_attribute, true)! : a.nameId?.value ?? claims('the assertion has no NameID for the username');
  return {
    subject,
    username,
    email: single(a, m.email_attribute, false) ?? null,
    name: single(a, m.name_attribute, false) ?? null,
    groups: a.attributes.get(m.groups_attribute) ?? [],
  };
}

/**
 * RFC 8176 method references for AuthnContextClassRefs whose meaning is
 * plain (SAML authn-context §3.4, and Entra ID's multipleauthn); anything
 * else yields none rather than a guess.
 */
const AMR: Record<string, string[]> = {
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password': ['pwd'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': ['pwd'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken': ['otp'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract': ['mfa'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered': ['mfa'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard': ['sc'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI': ['sc', 'pin'],
  'http://schemas.microsoft.com/claims/multipleauthn': ['mfa'],
};

export function amrFor(classRef: string | undefined): string[] {
  return classRef ? [...(AMR[classRef] ?? [])] : [];
}
