import type { RawIdentity } from '../base';
import type { RefusalCode } from '../types';

/** An entry as ldapts returns it: attribute name → value(s). */
export type LdapEntry = { dn: string } & Record<string, Buffer | Buffer[] | string | string[]>;

/** Every value of an attribute, whatever case the server spelled its name in. */
export function values(entry: LdapEntry, attr: string): (string | Buffer)[] {
  const want = attr.toLowerCase();
  for (const [key, v] of Object.entries(entry)) {
    if (key === 'dn' || key.toLowerCase() !== want) continue;
    return Array.isArray(v) ? v : [v];
  }
  return [];
}

export function firstText(entry: LdapEntry, attr: string): string | undefined {
  const v = values(entry, attr)[0];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/** Attributes read as bytes, not text. */
export function isBinaryAttribute(attr: string): boolean {
  return attr.toLowerCase() === 'objectguid';
}

/**
 * Active Directory's objectGUID (16 bytes) in the canonical form AD tools
 * show: the first three fields are little-endian on the wire
 * (MS-DTYP §2.3.4.2), so `{33221100-5544-7766-8899-aabbccddeeff}` is sent as
 * 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff.
 */
export function guidToString(bytes: Buffer): string | undefined {
  if (bytes.length !== 16) return undefined;
  const h = (from: number, to: number, reverse: boolean) => {
    const part = Buffer.from(bytes.subarray(from, to));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}

const GUID_RE = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i;

/** The inverse of guidToString: the bytes to search objectGUID with. */
export function guidToBytes(guid: string): Buffer | undefined {
  const m = GUID_RE.exec(guid);
  if (!m) return undefined;
  const le = (hex: string) => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([le(m[1]!), le(m[2]!), le(m[3]!), Buffer.from(m[4]!, 'hex'), Buffer.from(m[5]!, 'hex')]);
}

/** The stable subject as we store it; undefined when the entry has none (or a malformed GUID). */
export function readSubject(entry: LdapEntry, attr: string): string | undefined {
  const v = values(entry, attr)[0];
  if (v === undefined) return undefined;
  if (isBinaryAttribute(attr)) return Buffer.isBuffer(v) ? guidToString(v) : undefined;
  const text = typeof v === 'string' ? v : v.toString('utf8');
  return text.trim() === '' ? undefined : text;
}

/** The assertion value to find a person again by their stored subject. */
export function subjectAssertion(attr: string, subject: string): string | Buffer | undefined {
  return isBinaryAttribute(attr) ? guidToBytes(subject) : subject;
}

/** userAccountControl's ACCOUNTDISABLE flag (MS-ADTS §2.2.16). */
export const UF_ACCOUNTDISABLE = 0x2;

/** True when the entry carries Active Directory's userAccountControl with the disabled bit set. */
export function isDisabledByUserAccountControl(entry: LdapEntry): boolean {
  const raw = firstText(entry, 'userAccountControl');
  if (raw === undefined) return false;
  const n = Number.parseInt(raw.trim(), 10);
  // A value we cannot read is treated as disabled: fail closed.
  if (!Number.isFinite(n)) return true;
  return (n & UF_ACCOUNTDISABLE) !== 0;
}

/**
 * Active Directory answers a refused bind with invalidCredentials (49) and a
 * diagnostic like `80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext
 * error, data 533, v4563`. The data codes other than 52e (bad password) and
 * 525 (no such user) are only sent once the password was right, so they may
 * be told apart without helping anyone guess.
 */
export function adBindRefusal(diagnostic: string): { code: RefusalCode; detail: string } | undefined {
  const m = /\bdata ([0-9a-f]{3,4})\b/i.exec(diagnostic);
  if (!m) return undefined;
  const reasons: Record<string, string> = {
    '530': 'not permitted to sign in at this time',
    '531': 'not permitted to sign in from this workstation',
    '532': 'password expired',
    '533': 'account disabled',
    '701': 'account expired',
    '773': 'password must be changed',
    '775': 'account locked out',
  };
  const reason = reasons[m[1]!.toLowerCase()];
  return reason ? { code: 'disabled', detail: `Active Directory refused the bind: ${reason}` } : undefined;
}

export interface UserAttributes {
  subject_attribute: string;
  username_attribute: string;
  email_attribute: string;
  name_attribute: string;
}

/** Which attributes to ask for when reading a user entry. */
export function userAttributeList(u: UserAttributes, extra: string[] = []): string[] {
  return [...new Set([u.subject_attribute, u.username_attribute, u.email_attribute, u.name_attribute, 'userAccountControl', ...extra])];
}

/** The person as the directory describes them, before our prefixes and allow-list (finalizeIdentity). */
export function mapUserEntry(u: UserAttributes, entry: LdapEntry, groups: readonly string[]): RawIdentity {
  return {
    subject: readSubject(entry, u.subject_attribute) ?? '',
    username: firstText(entry, u.username_attribute) ?? '',
    email: firstText(entry, u.email_attribute) ?? null,
    name: firstText(entry, u.name_attribute) ?? null,
    groups,
  };
}
