import { EqualityFilter } from 'ldapts';
import { finalizeIdentity } from '../base';
import type { ConnectorContext, PasswordConnector, RecheckOutcome, UpstreamSignIn } from '../types';
import { UpstreamRefusal } from '../types';
import { bindPassword, type Connection, describe, isInvalidCredentials, withConnection } from './directory';
import { and, userFilter, userFilterWithoutUsername } from './filter';
import { resolveGroups } from './groups';
import { adBindRefusal, isBinaryAttribute, isDisabledByUserAccountControl, type LdapEntry, mapUserEntry, subjectAssertion, userAttributeList } from './identity';
import { LdapUpstreamSchema, memberAttribute, type LdapUpstreamConfig } from './schema';

export { LdapUpstreamSchema, type LdapUpstreamConfig } from './schema';

/** Longest username or password we pass on; longer input is refused without asking the directory. */
const MAX_USERNAME = 256;
const MAX_PASSWORD = 1024;

/**
 * A typed username we will not even search for: empty, too long, or with
 * control characters (NUL would end the value in some servers' C code). The
 * answer is the same bad_credentials a wrong password gets.
 */
function unusableUsername(username: string): boolean {
  // eslint-disable-next-line no-control-regex
  return username.trim() === '' || username.length > MAX_USERNAME || /[\u0000-\u001f\u007f]/.test(username);
}

/** Bound to (and refused) when no user matched, in place of the person's own bind. */
export function timingDn(baseDn: string): string {
  return `cn=kubegate-no-such-user,${baseDn}`;
}

function userAttributes(config: LdapUpstreamConfig): string[] {
  const g = config.group_search;
  return userAttributeList(config.user_search, g?.mode === 'member_of' ? [memberAttribute(g)] : []);
}

function binaryAttributes(config: LdapUpstreamConfig): string[] {
  const attr = config.user_search.subject_attribute;
  // ldapts matches these names case-sensitively against the server's spelling.
  return isBinaryAttribute(attr) ? [...new Set([attr, 'objectGUID', attr.toLowerCase()])] : [];
}

async function serviceBind(config: LdapUpstreamConfig, conn: Connection): Promise<void> {
  const password = await bindPassword(config);
  try {
    await conn.bind(config.bind_dn, password);
  } catch (err) {
    // A refused service account is our misconfiguration, not the person's: 'unavailable', named.
    throw new UpstreamRefusal('unavailable', `the service account ${config.bind_dn} could not bind: ${describe(err)}`);
  }
}

async function groupsOf(config: LdapUpstreamConfig, conn: Connection, entry: LdapEntry, ctx: ConnectorContext): Promise<string[]> {
  const g = config.group_search;
  if (!g) return [];
  const username = mapUserEntry(config.user_search, entry, []).username;
  const result = await resolveGroups(g, { dn: entry.dn, entry, username }, (base, opts) => conn.search(base, { ...opts, paged: true }));
  if (result.truncated) ctx.log.warn('ldap group walk cut off', { upstream: config.id, max_depth: g.max_depth, groups: result.groups.length });
  return result.groups.map((r) => r.name);
}

async function authenticate(config: LdapUpstreamConfig, credentials: { username: string; password: string }, ctx: ConnectorContext): Promise<UpstreamSignIn> {
  const { username, password } = credentials;
  // An empty password makes a simple bind "unauthenticated" (RFC 4513 §5.1.2), which many servers
  // answer with success: it must never reach the directory.
  if (typeof password !== 'string' || password === '') throw new UpstreamRefusal('bad_credentials', 'empty password');
  if (password.length > MAX_PASSWORD) throw new UpstreamRefusal('bad_credentials', 'password too long');
  if (typeof username !== 'string' || unusableUsername(username)) throw new UpstreamRefusal('bad_credentials', 'unusable username');

  const u = config.user_search;
  return withConnection(config, async (service) => {
    await serviceBind(config, service);
    const entries = await service.search(u.base_dn, {
      scope: u.scope,
      filter: userFilter(u.filter, username),
      attributes: userAttributes(config),
      binary: binaryAttributes(config),
      // Two are enough to know it is not exactly one.
      sizeLimit: 2,
    });
    if (entries.length !== 1) {
      // Answer no sooner than a wrong password would (the same second connection and bind, to a
      // DN that names nobody), so the time taken does not tell who has an account.
      await withConnection(config, (own) => own.bind(timingDn(u.base_dn), password)).catch(() => undefined);
      throw new UpstreamRefusal('bad_credentials', entries.length === 0 ? 'no such user' : 'the user filter matched more than one entry');
    }
    const entry = entries[0]!;

    // The password is checked by binding as the person, on a connection of its own, so the
    // service connection keeps its identity for the group searches.
    await withConnection(config, async (own) => {
      try {
        await own.bind(entry.dn, password);
      } catch (err) {
        if (!isInvalidCredentials(err)) throw err;
        const ad = adBindRefusal(err.message);
        throw new UpstreamRefusal(ad?.code ?? 'bad_credentials', ad?.detail ?? 'wrong password');
      }
    });
    // Only now, with the password proven, may the answer differ from a wrong password's.
    if (isDisabledByUserAccountControl(entry)) throw new UpstreamRefusal('disabled', 'userAccountControl has ACCOUNTDISABLE set');

    const groups = await groupsOf(config, service, entry, ctx);
    return { identity: finalizeIdentity(config, mapUserEntry(u, entry, groups)), amr: ['pwd'], authTime: ctx.now() };
  });
}

async function recheck(config: LdapUpstreamConfig, user: { subject: string }, _state: string | null, ctx: ConnectorContext): Promise<RecheckOutcome> {
  const u = config.user_search;
  const assertion = subjectAssertion(u.subject_attribute, user.subject);
  if (assertion === undefined) return { status: 'gone', reason: `stored subject is not a valid ${u.subject_attribute}` };
  try {
    return await withConnection(config, async (service) => {
      await serviceBind(config, service);
      const entries = await service.search(u.base_dn, {
        scope: u.scope,
        // Found by the stable subject, and still matching the operator's filter (with any username).
        filter: and(new EqualityFilter({ attribute: u.subject_attribute, value: assertion }), userFilterWithoutUsername(u.filter)),
        attributes: userAttributes(config),
        binary: binaryAttributes(config),
        sizeLimit: 2,
      });
      if (entries.length !== 1) return { status: 'gone', reason: entries.length === 0 ? 'no entry with this subject matches the user filter' : 'the subject matched more than one entry' };
      const entry = entries[0]!;
      if (isDisabledByUserAccountControl(entry)) return { status: 'gone', reason: 'userAccountControl has ACCOUNTDISABLE set' };
      const groups = await groupsOf(config, service, entry, ctx);
      return { status: 'active', identity: finalizeIdentity(config, mapUserEntry(u, entry, groups)) };
    });
  } catch (err) {
    if (err instanceof UpstreamRefusal && err.code === 'unavailable') return { status: 'unavailable', reason: err.detail };
    if (err instanceof UpstreamRefusal) return { status: 'gone', reason: err.detail };
    throw err;
  }
}

export const ldapConnector: PasswordConnector<LdapUpstreamConfig> = {
  type: 'ldap',
  flow: 'password',
  schema: LdapUpstreamSchema,
  presentation: (config) => ({ kind: 'password', label: config.display_name ?? 'your directory account', usernameLabel: 'Username' }),
  formActionOrigins: () => [],
  authenticate,
  recheck,
};
