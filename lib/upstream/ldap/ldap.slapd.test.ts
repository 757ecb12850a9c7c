/**
 * The LDAP connector against a real OpenLDAP (Debian slapd, one per file:
 * test/support/slapd.ts), over plain LDAP, StartTLS and ldaps with a test CA.
 */
import net from 'node:net';
import { Attribute, Change, Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_DN,
  GROUPS_DN,
  INJECTION_GROUP,
  PEOPLE_DN,
  POSIX_DN,
  SERVICE_DN,
  SERVICE_PASSWORD,
  seedDirectory,
  startSlapd,
  type Slapd,
  userDn,
  groupDn,
  USERS,
} from '../../../test/support/slapd';
import type { User } from '../../store/types';
import { silentLogger } from '../../util/log';
import { UpstreamRefusal } from '../types';
import { ldapConnector, LdapUpstreamSchema, timingDn, type LdapUpstreamConfig } from './index';
import { userFilter } from './filter';

const ctx = { now: () => Date.UTC(2031, 0, 1), log: silentLogger };
const ALICE_NESTED = ['auditors', 'cycle-a', 'cycle-b', 'developers', INJECTION_GROUP, 'platform'];

let slapd: Slapd;
beforeAll(async () => {
  slapd = await startSlapd({ tls: true });
  await seedDirectory(slapd);
}, 30_000);
afterAll(async () => {
  await slapd?.stop();
});

function config(over: Record<string, unknown> = {}): LdapUpstreamConfig {
  return LdapUpstreamSchema.parse({
    id: 'corp',
    type: 'ldap',
    url: slapd.url,
    bind_dn: SERVICE_DN,
    bind_password: SERVICE_PASSWORD,
    connect_timeout: 2,
    timeout: 2,
    user_search: { base_dn: PEOPLE_DN, filter: '(&(objectClass=inetOrgPerson)(uid={username}))' },
    group_search: { base_dn: GROUPS_DN, nested: true },
    ...over,
  });
}

const adConfig = (over: Record<string, unknown> = {}) =>
  config({
    user_search: { base_dn: PEOPLE_DN, filter: '(&(objectClass=kubegateTestAdAccount)(sAMAccountName={username}))', subject_attribute: 'objectGUID', username_attribute: 'sAMAccountName' },
    ...over,
  });

async function refusal(p: Promise<unknown>): Promise<UpstreamRefusal> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamRefusal);
  return err as UpstreamRefusal;
}

/** slapd's log once nothing has been added to it for 150 ms (its lines trail the operations). */
async function quietLog(): Promise<string> {
  let last = slapd.log();
  for (;;) {
    await new Promise((r) => setTimeout(r, 150));
    const now = slapd.log();
    if (now === last) return now;
    last = now;
  }
}

const sorted = (xs: readonly string[]) => [...xs].sort();

function asUser(subject: string): User {
  return { id: 'u1', upstream: 'corp', subject, username: 'x', email: null, name: null, groups: [], created_at: 0, updated_at: 0 };
}

describe('sign-in', () => {
  it('signs alice in with her entryUUID, mapped attributes and nested groups (through a cycle and an injection-looking name)', async () => {
    const signIn = await ldapConnector.authenticate(config({ username_prefix: 'corp:', groups_prefix: 'corp:' }), { username: 'Alice', password: USERS.alice.password }, ctx);
    const admin = await slapd.admin();
    const { searchEntries } = await admin.search(userDn('alice'), { scope: 'base', attributes: ['entryUUID'] });
    expect(signIn.identity).toMatchObject({
      upstream: 'corp',
      subject: searchEntries[0]!.entryUUID,
      // The directory's spelling, not what was typed.
      username: 'corp:alice',
      email: USERS.alice.mail,
      name: USERS.alice.cn,
    });
    expect(sorted(signIn.identity.groups)).toEqual(ALICE_NESTED.map((g) => 'corp:' + g).sort());
    expect(signIn.amr).toEqual(['pwd']);
  });

  it('closes every connection it opens, after a sign-in and after a refusal', async () => {
    const before = await quietLog();
    await ldapConnector.authenticate(config(), { username: 'alice', password: USERS.alice.password }, ctx);
    await refusal(ldapConnector.authenticate(config(), { username: 'alice', password: 'nope' }, ctx));
    await refusal(ldapConnector.authenticate(adConfig(), { username: 'bob', password: USERS.bob.password }, ctx));
    const after = (await quietLog()).slice(before.length);
    const opened = after.match(/ACCEPT from/g) ?? [];
    expect(opened.length).toBe(6);
    expect(after.match(/ closed/g)).toHaveLength(opened.length);
  });

  it('without nesting, only the groups that name alice directly', async () => {
    const signIn = await ldapConnector.authenticate(config({ group_search: { base_dn: GROUPS_DN } }), { username: 'alice', password: USERS.alice.password }, ctx);
    expect(sorted(signIn.identity.groups)).toEqual(['developers', INJECTION_GROUP].sort());
  });

  it('reads groups from memberOf (the memberof overlay), nested through the groups’ own memberOf', async () => {
    const direct = await ldapConnector.authenticate(config({ group_search: { mode: 'member_of' } }), { username: 'alice', password: USERS.alice.password }, ctx);
    expect(sorted(direct.identity.groups)).toEqual(['developers', INJECTION_GROUP].sort());
    const nested = await ldapConnector.authenticate(config({ group_search: { mode: 'member_of', base_dn: GROUPS_DN, nested: true } }), { username: 'alice', password: USERS.alice.password }, ctx);
    expect(sorted(nested.identity.groups)).toEqual(ALICE_NESTED.slice().sort());
  });

  it('reads posixGroup memberUid with the username', async () => {
    const signIn = await ldapConnector.authenticate(config({ group_search: { mode: 'member_uid', base_dn: POSIX_DN } }), { username: 'alice', password: USERS.alice.password }, ctx);
    expect(signIn.identity.groups).toEqual(['posix-devs']);
  });

  it('Active Directory style: sAMAccountName, objectGUID as the canonical GUID string', async () => {
    const signIn = await ldapConnector.authenticate(adConfig(), { username: 'alice', password: USERS.alice.password }, ctx);
    expect(signIn.identity.subject).toBe(USERS.alice.guid);
    expect(signIn.identity.username).toBe('alice');
  });

  it('objectGUID is read as bytes however the config spells it', async () => {
    const signIn = await ldapConnector.authenticate(
      adConfig({ user_search: { base_dn: PEOPLE_DN, filter: '(sAMAccountName={username})', subject_attribute: 'objectguid', username_attribute: 'sAMAccountName' } }),
      { username: 'alice', password: USERS.alice.password },
      ctx,
    );
    expect(signIn.identity.subject).toBe(USERS.alice.guid);
  });

  it('a wrong password and an unknown user get the same refusal', async () => {
    const wrong = await refusal(ldapConnector.authenticate(config(), { username: 'alice', password: 'nope' }, ctx));
    const unknown = await refusal(ldapConnector.authenticate(config(), { username: 'mallory', password: 'nope' }, ctx));
    expect([wrong.code, unknown.code]).toEqual(['bad_credentials', 'bad_credentials']);
  });

  it('an unknown user costs the same second connection and bind as a wrong password (no timing oracle)', async () => {
    const before = await quietLog();
    await refusal(ldapConnector.authenticate(config(), { username: 'mallory', password: 'guess' }, ctx));
    const after = (await quietLog()).slice(before.length);
    expect(after.match(/ACCEPT/g)).toHaveLength(2);
    expect(after).toContain(`BIND dn="${timingDn(PEOPLE_DN)}"`);
  });

  it('an empty password is refused before any connection to the directory', async () => {
    const before = await quietLog();
    const err = await refusal(ldapConnector.authenticate(config(), { username: 'alice', password: '' }, ctx));
    expect(err.code).toBe('bad_credentials');
    expect((await quietLog()).slice(before.length)).not.toMatch(/ACCEPT|BIND/);
    // The same check does see a real attempt (so the log is the right witness).
    await refusal(ldapConnector.authenticate(config(), { username: 'alice', password: 'x' }, ctx));
    expect((await quietLog()).slice(before.length)).toMatch(/BIND dn="uid=alice,ou=people,dc=example,dc=org"/);
  });

  it('a disabled account (userAccountControl bit 2) is refused as disabled, but only with the right password', async () => {
    const right = await refusal(ldapConnector.authenticate(adConfig(), { username: 'bob', password: USERS.bob.password }, ctx));
    expect(right.code).toBe('disabled');
    const wrong = await refusal(ldapConnector.authenticate(adConfig(), { username: 'bob', password: 'nope' }, ctx));
    expect(wrong.code).toBe('bad_credentials');
  });

  it('a filter that matches two entries signs nobody in, even with the right password', async () => {
    const err = await refusal(ldapConnector.authenticate(config(), { username: 'twin', password: USERS.twin.password }, ctx));
    expect(err.code).toBe('bad_credentials');
  });

  const injections = ['*', '*)(uid=*', 'admin)(|(uid=*', 'alice)(uid=*', 'al*', 'alice)(|(objectClass=*', '*)(|(uid=alice', 'alice\\', '\\2a', 'ali\\63e', 'alice\u0000', '(uid=alice)'];
  it.each(injections)('the username %j finds nobody (even with alice’s password)', async (username) => {
    const err = await refusal(ldapConnector.authenticate(config(), { username, password: USERS.alice.password }, ctx));
    expect(err.code).toBe('bad_credentials');
    // And the escaped filter, sent by the service account itself, matches no entry at all.
    const c = new Client({ url: slapd.url, timeout: 2000 });
    try {
      await c.bind(SERVICE_DN, SERVICE_PASSWORD);
      const { searchEntries } = await c.search(PEOPLE_DN, { filter: userFilter('(&(objectClass=inetOrgPerson)(uid={username}))', username), attributes: ['uid'] });
      expect(searchEntries).toEqual([]);
    } finally {
      await c.unbind();
    }
  });

  it('a service account that cannot bind makes the directory unavailable, not the person wrong', async () => {
    const err = await refusal(ldapConnector.authenticate(config({ bind_password: 'wrong' }), { username: 'alice', password: USERS.alice.password }, ctx));
    expect(err.code).toBe('unavailable');
    expect(err.detail).toContain(SERVICE_DN);
  });
});

describe('TLS', () => {
  it('ldaps:// with the test CA', async () => {
    const signIn = await ldapConnector.authenticate(config({ url: slapd.ldapsUrl, certificate_authority: { data: slapd.caPem } }), { username: 'alice', password: USERS.alice.password }, ctx);
    expect(signIn.identity.username).toBe('alice');
  });

  it('StartTLS with the CA from a file', async () => {
    const signIn = await ldapConnector.authenticate(config({ start_tls: true, certificate_authority: { file: slapd.caFile } }), { username: 'alice', password: USERS.alice.password }, ctx);
    expect(signIn.identity.username).toBe('alice');
  });

  it('a certificate from an unknown CA is refused as unavailable (ldaps and StartTLS)', async () => {
    for (const over of [{ url: slapd.ldapsUrl }, { start_tls: true }]) {
      const before = (await quietLog()).length;
      const err = await refusal(ldapConnector.authenticate(config(over), { username: 'alice', password: USERS.alice.password }, ctx));
      expect(err.code).toBe('unavailable');
      // No password went over the untrusted connection: not even the service account's.
      expect((await quietLog()).slice(before)).not.toMatch(/BIND dn=/);
    }
  });
});

describe('a directory that is down', () => {
  let silent: net.Server;
  let silentPort: number;
  const sockets = new Set<net.Socket>();
  beforeAll(async () => {
    // Accepts connections and never answers (a hung server, a firewall that half-works).
    silent = net.createServer((s) => {
      // Reading (and dropping) what arrives, so a close from the client is seen.
      s.resume();
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  async function closedPort(): Promise<number> {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const { port } = srv.address() as net.AddressInfo;
    await new Promise((r) => srv.close(r));
    return port;
  }

  it.each([
    ['a closed port', async () => ({ url: `ldap://127.0.0.1:${await closedPort()}` })],
    ['a port that never answers', async () => ({ url: `ldap://127.0.0.1:${silentPort}` })],
    ['ldaps to a port that never answers', async () => ({ url: `ldaps://127.0.0.1:${silentPort}` })],
    ['StartTLS to a port that never answers', async () => ({ url: `ldap://127.0.0.1:${silentPort}`, start_tls: true })],
  ])('%s: unavailable within the timeout, and no connection left open', async (_name, over) => {
    const started = Date.now();
    const err = await refusal(ldapConnector.authenticate(config({ ...(await over()), connect_timeout: 1, timeout: 1 }), { username: 'alice', password: 'pw' }, ctx));
    const elapsed = Date.now() - started;
    expect(err.code).toBe('unavailable');
    expect(elapsed).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 100));
    expect(sockets.size).toBe(0);
  });

  it('StartTLS accepted, then a TLS handshake that never completes: unavailable within the timeout', async () => {
    // Answers the StartTLS extended request with success (RFC 4511 §4.14.2), then says nothing more.
    const stalls = new Set<net.Socket>();
    const stalling = net.createServer((s) => {
      stalls.add(s);
      s.on('close', () => stalls.delete(s));
      s.once('data', (req: Buffer) => {
        const messageId = req[4]!; // 30 len 02 01 <id>: ldapts' first message id fits one byte
        s.write(Buffer.from([0x30, 0x0c, 0x02, 0x01, messageId, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]));
        s.resume();
      });
    });
    await new Promise<void>((r) => stalling.listen(0, '127.0.0.1', r));
    try {
      const { port } = stalling.address() as net.AddressInfo;
      const started = Date.now();
      const err = await refusal(ldapConnector.authenticate(config({ url: `ldap://127.0.0.1:${port}`, start_tls: true, connect_timeout: 1, timeout: 1 }), { username: 'alice', password: 'pw' }, ctx));
      expect(err.code).toBe('unavailable');
      expect(err.detail).toMatch(/StartTLS/);
      expect(Date.now() - started).toBeLessThan(3000);
      await new Promise((r) => setTimeout(r, 100));
      expect(stalls.size).toBe(0);
    } finally {
      for (const s of stalls) s.destroy();
      await new Promise((r) => stalling.close(r));
    }
  });

  it('a re-check says unavailable (not gone)', async () => {
    const outcome = await ldapConnector.recheck!(config({ url: `ldap://127.0.0.1:${silentPort}`, connect_timeout: 1, timeout: 1 }), asUser('whatever'), null, ctx);
    expect(outcome.status).toBe('unavailable');
  });
});

describe('re-check by the stable subject', () => {
  it('follows carol through a removed group and her deletion', async () => {
    const cfg = config();
    const signIn = await ldapConnector.authenticate(cfg, { username: 'carol', password: USERS.carol.password }, ctx);
    expect(sorted(signIn.identity.groups)).toEqual(['cycle-a', 'cycle-b', 'developers', 'platform']);
    const carol = asUser(signIn.identity.subject);

    const admin = await slapd.admin();
    await admin.modify(groupDn('developers'), new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [userDn('carol')] }) }));
    const after = await ldapConnector.recheck!(cfg, carol, null, ctx);
    expect(after).toMatchObject({ status: 'active', identity: { subject: carol.subject, username: 'carol', groups: [] } });

    // Renamed (uid changed): still the same person, found by entryUUID.
    await admin.modifyDN(userDn('carol'), 'uid=carol2');
    const renamed = await ldapConnector.recheck!(cfg, carol, null, ctx);
    expect(renamed).toMatchObject({ status: 'active', identity: { username: 'carol2' } });

    await admin.del(userDn('carol2'));
    const gone = await ldapConnector.recheck!(cfg, carol, null, ctx);
    expect(gone.status).toBe('gone');
  });

  it('finds alice by her binary objectGUID, and a disabled bob is gone', async () => {
    const alice = await ldapConnector.recheck!(adConfig(), asUser(USERS.alice.guid), null, ctx);
    expect(alice).toMatchObject({ status: 'active', identity: { username: 'alice', subject: USERS.alice.guid } });
    expect(sorted(alice.status === 'active' ? alice.identity.groups : [])).toEqual(ALICE_NESTED.slice().sort());
    const bob = await ldapConnector.recheck!(adConfig(), asUser(USERS.bob.guid), null, ctx);
    expect(bob.status).toBe('gone');
  });

  it('someone who no longer matches the user filter is gone', async () => {
    const strict = adConfig({
      user_search: {
        base_dn: PEOPLE_DN,
        filter: '(&(objectClass=kubegateTestAdAccount)(sAMAccountName={username})(mail=*@example.com))',
        subject_attribute: 'objectGUID',
        username_attribute: 'sAMAccountName',
      },
    });
    expect((await ldapConnector.recheck!(strict, asUser(USERS.alice.guid), null, ctx)).status).toBe('gone');
  });

  it('the rootdn is not how the connector reads (sanity: the service account is)', () => {
    expect(config().bind_dn).not.toBe(ADMIN_DN);
  });
});
