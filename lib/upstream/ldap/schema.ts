import path from 'node:path';
import { z } from 'zod';
import { certificateAuthority, duration } from '../../config/fields';
import { upstreamBase } from '../base';
import { parseDn, parseFilter, USERNAME_PLACEHOLDER, userFilter } from './filter';

/** An attribute description: a name (`sAMAccountName`) or an OID. */
const attribute = z
  .string()
  .regex(/^([A-Za-z][A-Za-z0-9-]{0,127}|\d+(\.\d+)+)$/, 'must be an LDAP attribute name such as "uid" or "sAMAccountName"');

const dn = z
  .string()
  .trim()
  .min(1, 'must be a DN such as "ou=people,dc=example,dc=org"')
  .max(2048)
  .refine((v) => parseDn(v) !== undefined, 'must be a DN such as "ou=people,dc=example,dc=org"');

const scope = z.enum(['base', 'one', 'sub'], { error: 'must be "base", "one" or "sub"' }).default('sub');

const absolutePath = z
  .string()
  .min(1)
  .refine((p) => path.isAbsolute(p), 'must be an absolute path');

/** A filter without placeholders; checked by parsing it once. */
const filter = z.string().trim().superRefine((text, ctx) => {
  try {
    parseFilter(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not an LDAP filter: ${(err as Error).message}` });
  }
});

/** The user filter: `{username}` is replaced by the escaped username (RFC 4515). */
const userFilterTemplate = z.string().trim().superRefine((text, ctx) => {
  if (!text.includes(USERNAME_PLACEHOLDER)) {
    ctx.addIssue({ code: 'custom', message: `must contain ${USERNAME_PLACEHOLDER}, e.g. "(&(objectClass=person)(uid={username}))"` });
    return;
  }
  try {
    userFilter(text, 'sample');
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not an LDAP filter: ${(err as Error).message}` });
  }
});

const ldapUrl = z.string().superRefine((raw, ctx) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a URL such as ldaps://dc1.example.com or ldap://ldap.example.com:389' });
    return;
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') ctx.addIssue({ code: 'custom', message: 'must start with ldap:// or ldaps://' });
  else if (url.hostname === '') ctx.addIssue({ code: 'custom', message: 'must name a host' });
  else if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash || url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: 'must be only scheme, host and port (the base DNs are separate settings)' });
  }
});

export const LdapUserSearchSchema = z.strictObject({
  base_dn: dn,
  scope,
  /** RFC 4515 filter; `{username}` is what the person typed, escaped. Exactly one entry must match. */
  filter: userFilterTemplate.default('(&(objectClass=person)(uid={username}))'),
  /** The stable subject: never the DN or the email, which change. `objectGUID` is read as binary. */
  subject_attribute: attribute.default('entryUUID'),
  username_attribute: attribute.default('uid'),
  email_attribute: attribute.default('mail'),
  name_attribute: attribute.default('cn'),
});

export const GROUP_MODES = ['member', 'member_uid', 'member_of', 'ad_in_chain'] as const;

export const LdapGroupSearchSchema = z.strictObject({
  /**
   * - member:      groups whose `member_attribute` (member, uniqueMember) holds the user's DN;
   * - member_uid:  groups whose `member_attribute` (memberUid) holds the username (posixGroup);
   * - member_of:   the user entry's `member_attribute` (memberOf) lists the group DNs;
   * - ad_in_chain: Active Directory's LDAP_MATCHING_RULE_IN_CHAIN on `member`: nested groups in one search.
   */
  mode: z.enum(GROUP_MODES, { error: `must be one of ${GROUP_MODES.map((m) => `"${m}"`).join(', ')}` }).default('member'),
  /** Required except for member_of, where it limits the groups to those below it. */
  base_dn: dn.optional(),
  scope,
  filter: filter.default('(objectClass=*)'),
  /** Default: member, memberUid, memberOf, member (by mode). */
  member_attribute: attribute.optional(),
  name_attribute: attribute.default('cn'),
  /** Follow groups in groups (modes member and member_of): a breadth-first walk, cycle-safe. */
  nested: z.boolean().default(false),
  max_depth: z.number().int().min(1).max(20).default(8),
});

export const LdapUpstreamSchema = z
  .strictObject({
    ...upstreamBase,
    type: z.literal('ldap'),
    url: ldapUrl,
    /** Upgrade an ldap:// connection with StartTLS before anything is sent; refused if the server will not. */
    start_tls: z.boolean().default(false),
    /** The CA that signed the directory's certificate, when it is private (PEM text or an absolute file path). */
    certificate_authority: certificateAuthority.optional(),
    /** TCP connect plus TLS handshake. */
    connect_timeout: duration('connect_timeout', 1, 60).default(5),
    /** Each LDAP operation (bind, search). */
    timeout: duration('timeout', 1, 120).default(5),
    /** The service account that searches for users and groups (read access is enough). */
    bind_dn: dn,
    /** Usually `${LDAP_BIND_PASSWORD}` (the config file substitutes environment variables). */
    bind_password: z.string().min(1).optional(),
    /** A file holding the password (trailing newline ignored), read at each connection so a rotation needs no restart. */
    bind_password_file: absolutePath.optional(),
    user_search: LdapUserSearchSchema,
    /** Omitted: users get no groups from this directory. */
    group_search: LdapGroupSearchSchema.optional(),
  })
  .superRefine(
    (u, ctx) => {
      if ((u.bind_password === undefined) === (u.bind_password_file === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['bind_password'], message: 'give exactly one of "bind_password" or "bind_password_file"' });
      }
      if (typeof u.url === 'string' && u.url.startsWith('ldaps:') && u.start_tls === true) {
        ctx.addIssue({ code: 'custom', path: ['start_tls'], message: 'is for ldap:// URLs; an ldaps:// connection is TLS from the start' });
      }
      const ca = u.certificate_authority as { file?: unknown } | undefined;
      if (ca && typeof ca.file === 'string' && !path.isAbsolute(ca.file)) {
        ctx.addIssue({ code: 'custom', path: ['certificate_authority', 'file'], message: 'must be an absolute path' });
      }
      const g = u.group_search;
      if (g && typeof g === 'object') {
        if (g.mode !== 'member_of' && g.base_dn === undefined) {
          ctx.addIssue({ code: 'custom', path: ['group_search', 'base_dn'], message: `is required for mode "${g.mode}"` });
        }
        if (g.nested === true && (g.mode === 'member_uid' || g.mode === 'ad_in_chain')) {
          ctx.addIssue({
            code: 'custom',
            path: ['group_search', 'nested'],
            message: g.mode === 'ad_in_chain' ? 'is implied by "ad_in_chain" (the directory resolves nesting)' : 'is not possible with memberUid (it names users, not groups)',
          });
        }
      }
    },
    { when: () => true },
  );

export type LdapUpstreamConfig = z.infer<typeof LdapUpstreamSchema>;
export type LdapGroupSearch = z.infer<typeof LdapGroupSearchSchema>;

export function memberAttribute(g: LdapGroupSearch): string {
  if (g.member_attribute) return g.member_attribute;
  return { member: 'member', member_uid: 'memberUid', member_of: 'memberOf', ad_in_chain: 'member' }[g.mode];
}
