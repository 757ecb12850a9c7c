/**
 * Identity kept fresh with a REAL directory (Debian's slapd,
 * test/support/slapd.ts) behind the real LDAP connector: a sign-in through
 * the password form, a credential, then a group removed and the person
 * deleted in slapd, seen by kubectl's refreshes through the token endpoint.
 */
import { decodeJwt } from 'jose';
import { Attribute, Change } from 'ldapts';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { GROUPS_DN, groupDn, PEOPLE_DN, seedDirectory, SERVICE_DN, SERVICE_PASSWORD, startSlapd, type Slapd, userDn, USERS } from '../../test/support/slapd';
import { bodyOf, ENDPOINT_CONFIG_YAML, MINUTE, openTestEnv, SECOND, type TestEnv, type TokenSuccess } from '../../test/support/fixtures';
import { SignInThrottle } from '../auth/rate-limit';
import { silentLogger } from '../util/log';
import { upstreamsOf } from './registry';
import { passwordSignIn } from './sign-in';

let slapd: Slapd;
let env: TestEnv;

beforeAll(async () => {
  slapd = await startSlapd();
  await seedDirectory(slapd);
}, 30_000);
afterAll(async () => {
  await slapd?.stop();
});
afterEach(async () => {
  await env?.close();
});

it('a group removed in slapd leaves the next id_token after the interval; a person deleted there loses every credential', async () => {
  const corp = [
    '  - id: corp',
    '    type: ldap',
    `    url: ${slapd.url}`,
    `    bind_dn: "${SERVICE_DN}"`,
    `    bind_password: "${SERVICE_PASSWORD}"`,
    '    connect_timeout: 2',
    '    timeout: 2',
    '    groups_prefix: "ldap:"',
    `    user_search: { base_dn: "${PEOPLE_DN}", filter: "(&(objectClass=inetOrgPerson)(uid={username}))" }`,
    `    group_search: { base_dn: "${GROUPS_DN}", nested: true }`,
    '',
  ].join('\n');
  const yaml = ENDPOINT_CONFIG_YAML.replace(/ {2}- id: corp\n {4}type: oidc\n {4}issuer: \S+\n {4}client_id: kubegate\n/, corp)
    // staging calls the directory's developers "dev-team" in its RBAC.
    .replace('    client_secret: "s3cret +/%="\n', '    client_secret: "s3cret +/%="\n    group_mappings: { "ldap:developers": dev-team }\n');
  env = await openTestEnv({ yaml });
  const deps = {
    store: env.store,
    now: env.clock.now,
    log: silentLogger,
    sessionLifetimeMs: 8 * 60 * MINUTE,
    throttle: new SignInThrottle(env.clock.now),
    sealRecheckState: env.rt.rechecker.sealState,
  };
  const bound = upstreamsOf(env.config).get('corp')!;
  const sessionId = await passwordSignIn(deps, bound, { username: 'carol', password: USERS.carol.password }, { clientIp: null, userAgent: null });
  const signin = (await env.store.getLoginSession(sessionId))!;
  const minted = await env.mint('staging', signin);
  const groups = (t: string) => (decodeJwt(t).groups as string[]).slice().sort();
  expect(groups(minted.idToken)).toEqual(['dev-team', 'ldap:cycle-a', 'ldap:cycle-b', 'ldap:platform']);

  const refresh = async (token: string) => {
    const res = await env.refresh(token, 'staging');
    return { status: res.status, body: bodyOf<TokenSuccess & { error_description?: string }>(res) };
  };

  const admin = await slapd.admin();
  try {
    await admin.modify(groupDn('developers'), new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [userDn('carol')] }) }));
    env.clock.advance(5 * MINUTE - SECOND);
    const early = await refresh(minted.refreshToken);
    expect(groups(early.body.id_token)).toContain('dev-team'); // not due yet: the directory is not asked
    env.clock.advance(SECOND);
    const after = await refresh(early.body.refresh_token);
    expect(after.status).toBe(200);
    // developers was also the way into platform and the cycle (nested groups): all gone with it.
    expect(groups(after.body.id_token)).toEqual([]);
    expect((await env.store.listAudit({ limit: 1, kind: 'user.rechecked' }))[0]!.details).toMatchObject({
      upstream: 'corp',
      result: 'active',
      groups_added: [],
    });

    await admin.del(userDn('carol'));
    env.clock.advance(5 * MINUTE);
    const gone = await refresh(after.body.refresh_token);
    expect(gone.status).toBe(400);
    expect(gone.body.error_description).toMatch(/disabled or deleted at your sign-in provider/);
    expect(await env.store.getFamily(minted.family.id)).toMatchObject({ revoke_reason: 'offboarded' });
  } finally {
    await admin.unbind();
  }
});
