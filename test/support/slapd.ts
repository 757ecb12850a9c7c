/**
 * A real OpenLDAP server for tests: Debian's slapd (`apt-get install slapd
 * ldap-utils`; only slapd is used here), started as our own child process on
 * free loopback ports with a throwaway slapd.conf and mdb database, seeded
 * through ldapts as the rootdn. Nothing of the system's slapd (its
 * cn=config, /var/lib/ldap, the service) is touched.
 *
 * The directory (`seedDirectory`) has what the LDAP connector's tests need:
 * a service account with read access, good/disabled/twin users, nested
 * groups with a cycle, a group whose name looks like a filter injection, a
 * posixGroup, and Active-Directory-like attributes (objectGUID,
 * userAccountControl, sAMAccountName) from a tiny schema of our own, since
 * OpenLDAP's msuser.schema defines them without matching rules.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Attribute, Change, Client } from 'ldapts';
import { createTestPki } from '../../e2e/support/certs';
import { escapeDnValue } from '../../lib/upstream/ldap/filter';

export const SLAPD_BIN = process.env.SLAPD_BIN ?? '/usr/sbin/slapd';
export const BASE_DN = 'dc=example,dc=org';
export const ADMIN_DN = `cn=admin,${BASE_DN}`;
export const ADMIN_PASSWORD = 'admin-secret';
export const SERVICE_DN = `cn=kubegate,ou=services,${BASE_DN}`;
export const SERVICE_PASSWORD = 'service-secret';
export const PEOPLE_DN = `ou=people,${BASE_DN}`;
export const GROUPS_DN = `ou=groups,${BASE_DN}`;
export const POSIX_DN = `ou=posix,${BASE_DN}`;

/** A group name built to break an unescaped filter: `*`, parentheses and a backslash. */
export const INJECTION_GROUP = 'ops*)(cn=*\\';

export const USERS = {
  alice: { uid: 'alice', password: 'alice-pw', cn: 'Alice Liddell', mail: 'alice@example.org', guid: '7b6f3a1c-2d4e-4f5a-8b9c-0d1e2f3a4b5c', uac: 512 },
  bob: { uid: 'bob', password: 'bob-pw', cn: 'Bob Disabled', mail: 'bob@example.org', guid: 'a0000000-0000-4000-8000-000000000002', uac: 514 },
  carol: { uid: 'carol', password: 'carol-pw', cn: 'Carol Leaving', mail: 'carol@example.org', guid: 'a0000000-0000-4000-8000-000000000003', uac: 512 },
  twin: { uid: 'twin', password: 'twin-pw', cn: 'Twin One', mail: 'twin@example.org', guid: 'a0000000-0000-4000-8000-000000000004', uac: 512 },
} as const;

export const userDn = (uid: string, ou = PEOPLE_DN) => `uid=${escapeDnValue(uid)},${ou}`;
export const groupDn = (cn: string) => `cn=${escapeDnValue(cn)},${GROUPS_DN}`;

const AD_LITE_SCHEMA = `
# Active Directory's attributes under their own OIDs, with matching rules OpenLDAP can search by.
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
  EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'kubegateTestAdAccount' AUXILIARY
  MAY ( userAccountControl $ objectGUID $ sAMAccountName ) )
`;

export interface Slapd {
  /** ldap://127.0.0.1:<port> (StartTLS offered when started with tls). */
  url: string;
  /** ldaps://127.0.0.1:<port>, when started with tls. */
  ldapsUrl?: string;
  /** The test CA's PEM, when started with tls. */
  caPem?: string;
  caFile?: string;
  dir: string;
  /** Everything slapd logged (loglevel stats: one line per connection, BIND, SEARCH…). */
  log(): string;
  /** A client bound as the rootdn (ACLs do not apply). */
  admin(): Promise<Client>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess, logs: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`slapd exited (${child.exitCode}):\n${logs()}`));
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`slapd did not listen on ${port}:\n${logs()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startSlapd(opts: { tls?: boolean } = {}): Promise<Slapd> {
  if (!existsSync(SLAPD_BIN)) throw new Error(`no slapd at ${SLAPD_BIN}: install Debian's slapd package (apt-get install slapd), or set SLAPD_BIN`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kubegate-slapd-'));
  mkdirSync(path.join(dir, 'db'));
  writeFileSync(path.join(dir, 'ad-lite.schema'), AD_LITE_SCHEMA);
  let tlsLines: string[] = [];
  let caPem: string | undefined;
  let caFile: string | undefined;
  if (opts.tls) {
    const pki = await createTestPki(path.join(dir, 'pki'));
    const cert = pki.issue('slapd');
    caPem = pki.caPem;
    caFile = pki.caFile;
    tlsLines = [`TLSCACertificateFile ${pki.caFile}`, `TLSCertificateFile ${cert.certFile}`, `TLSCertificateKeyFile ${cert.keyFile}`];
  }
  const conf = [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    'include /etc/ldap/schema/nis.schema',
    `include ${path.join(dir, 'ad-lite.schema')}`,
    `pidfile ${path.join(dir, 'slapd.pid')}`,
    `argsfile ${path.join(dir, 'slapd.args')}`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload memberof',
    ...tlsLines,
    'database mdb',
    `suffix "${BASE_DN}"`,
    `rootdn "${ADMIN_DN}"`,
    `rootpw ${ADMIN_PASSWORD}`,
    `directory ${path.join(dir, 'db')}`,
    'maxsize 16777216',
    'index objectClass eq',
    'index uid,member,memberUid eq',
    'overlay memberof',
    // A person may only prove their own password; the service account reads everything else.
    'access to attrs=userPassword',
    '  by anonymous auth',
    '  by * none',
    'access to *',
    `  by dn.exact="${SERVICE_DN}" read`,
    '  by self read',
    '  by * none',
    '',
  ].join('\n');
  const confFile = path.join(dir, 'slapd.conf');
  writeFileSync(confFile, conf);

  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : undefined;
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : undefined;
  let output = '';
  // -d stats keeps slapd in the foreground (our child, ended with us) and logs each operation to stderr.
  const child = spawn(SLAPD_BIN, ['-f', confFile, '-h', [url + '/', ...(ldapsUrl ? [ldapsUrl + '/'] : [])].join(' '), '-d', 'stats'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('error', (err) => (output += `spawn failed: ${err.message}\n`));
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const logs = () => output;
  try {
    await waitForPort(port, child, logs);
    if (tlsPort) await waitForPort(tlsPort, child, logs);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const clients: Client[] = [];
  return {
    url,
    ldapsUrl,
    caPem,
    caFile,
    dir,
    log: logs,
    async admin() {
      const c = new Client({ url, timeout: 5000, connectTimeout: 5000 });
      await c.bind(ADMIN_DN, ADMIN_PASSWORD);
      clients.push(c);
      return c;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** objectGUID bytes for a canonical GUID string (the first three fields little-endian). */
function guidBytes(guid: string): Buffer {
  const [a, b, c, d, e] = guid.split('-') as [string, string, string, string, string];
  const le = (hex: string) => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([le(a), le(b), le(c), Buffer.from(d, 'hex'), Buffer.from(e, 'hex')]);
}

async function addUser(c: Client, u: { uid: string; password: string; cn: string; mail: string; guid: string; uac: number }, ou = PEOPLE_DN) {
  await c.add(userDn(u.uid, ou), [
    new Attribute({ type: 'objectClass', values: ['inetOrgPerson', 'kubegateTestAdAccount'] }),
    new Attribute({ type: 'uid', values: [u.uid] }),
    new Attribute({ type: 'cn', values: [u.cn] }),
    new Attribute({ type: 'sn', values: [u.cn.split(' ').at(-1)!] }),
    new Attribute({ type: 'mail', values: [u.mail] }),
    new Attribute({ type: 'userPassword', values: [u.password] }),
    new Attribute({ type: 'sAMAccountName', values: [u.uid] }),
    new Attribute({ type: 'userAccountControl', values: [String(u.uac)] }),
    new Attribute({ type: 'objectGUID', values: [guidBytes(u.guid)] }),
  ]);
}

async function addGroup(c: Client, cn: string, members: string[]) {
  await c.add(groupDn(cn), { objectClass: ['groupOfNames'], cn, member: members });
}

/**
 * The fixture directory. alice's groups, by the member attribute and nesting:
 * developers (direct), platform (developers ⊂ platform), cycle-a and cycle-b
 * (platform ⊂ cycle-a ⊂ cycle-b ⊂ cycle-a), `ops*)(cn=*\` (direct) and
 * auditors (ops… ⊂ auditors). Not `unrelated` (bob's). posix-devs by memberUid.
 */
export async function seedDirectory(slapd: Slapd): Promise<void> {
  const c = await slapd.admin();
  await c.add(BASE_DN, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });
  for (const ou of ['people', 'groups', 'services', 'posix']) {
    await c.add(`ou=${ou},${BASE_DN}`, { objectClass: ['organizationalUnit'], ou });
  }
  await c.add(`ou=contractors,${PEOPLE_DN}`, { objectClass: ['organizationalUnit'], ou: 'contractors' });
  await c.add(SERVICE_DN, { objectClass: ['organizationalRole', 'simpleSecurityObject'], cn: 'kubegate', userPassword: SERVICE_PASSWORD });
  for (const u of Object.values(USERS)) await addUser(c, u);
  // A second entry with uid=twin: a filter matching two entries must sign nobody in.
  await addUser(c, { ...USERS.twin, cn: 'Twin Two', guid: 'a0000000-0000-4000-8000-000000000005' }, `ou=contractors,${PEOPLE_DN}`);

  const alice = userDn('alice');
  await addGroup(c, 'developers', [alice, userDn('carol')]);
  await addGroup(c, 'platform', [groupDn('developers')]);
  await addGroup(c, 'cycle-a', [groupDn('platform')]);
  await addGroup(c, 'cycle-b', [groupDn('cycle-a')]);
  await c.modify(groupDn('cycle-a'), new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [groupDn('cycle-b')] }) }));
  await addGroup(c, INJECTION_GROUP, [alice]);
  await addGroup(c, 'auditors', [groupDn(INJECTION_GROUP)]);
  await addGroup(c, 'unrelated', [userDn('bob')]);
  await c.add(`cn=posix-devs,${POSIX_DN}`, { objectClass: ['posixGroup'], cn: 'posix-devs', gidNumber: '5000', memberUid: ['alice'] });
}
