import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MINUTE, openTestEnv, SECOND, type TestEnv } from '../../test/support/fixtures';
import { AdminError } from './commands';
import { listKeys, revokeKey, rotateKey } from './keys';

let env: TestEnv;
beforeEach(async () => {
  env = await openTestEnv();
});
afterEach(async () => {
  await env.close();
});

const published = () => (JSON.parse(env.rt.keys.jwksJson()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('rotate-key', () => {
  it('publishes the next key now and says when it starts signing; the current key keeps signing until then', async () => {
    const before = env.rt.keys.current().kid;
    const now = env.clock.now();
    const lines = await rotateKey(env.rt.keys, now);
    const next = published().find((k) => k !== before)!;
    const lead = env.config.signing.publish_ahead * 1000;
    expect(lines).toEqual([
      `published signing key ${next} now (the running server lists it in the JWKS within 5 s)`,
      `it starts signing at ${iso(now + lead)}, in 15 min (signing.publish_ahead), when every verifier that caches the JWKS has it`,
      `${before} signs until then, and stays in the JWKS until the tokens it signed have expired`,
    ]);
    expect(env.rt.keys.current().kid).toBe(before);
    expect(await rotateKey(env.rt.keys, now + SECOND)).toEqual([
      `signing key ${next} is already published and starts signing at ${iso(now + lead)}; nothing to do`,
    ]);

    const listed = listKeys(env.rt.keys, now + SECOND);
    expect(listed[0]).toMatch(/^KID\s+ALG\s+STATUS\s+IN JWKS\s+SIGNS FROM\s+SIGNS UNTIL\s+LEAVES JWKS$/);
    expect(listed[1]).toMatch(new RegExp(`^${next}\\s+RS256\\s+next\\s+yes\\s+${iso(now + lead)}\\s+-\\s+-$`));
    expect(listed[2]).toMatch(new RegExp(`^${before}\\s+RS256\\s+signing\\s+yes\\s+\\S+\\s+${iso(now + lead)}\\s+\\S+$`));
  });
});

describe('revoke-key', () => {
  it('withdraws the signing key, makes a new one sign now, audits it, and says what happens to verifiers and kubectl', async () => {
    const bad = env.rt.keys.current().kid;
    const lines = await revokeKey(env.rt.keys, bad, env.clock.advance(MINUTE), 30);
    const now = env.rt.keys.current().kid;
    expect(now).not.toBe(bad);
    expect(published()).toEqual([now]);
    expect(lines[0]).toBe(`revoked signing key ${bad} (it was the signing key): it never signs again, and the running server withdraws it from the JWKS within 5 s`);
    expect(lines[1]).toBe(
      `new signing key ${now} signs from now, with no lead time: a verifier that fetched the JWKS in the last 30 s refuses its tokens until it fetches it again`,
    );
    expect(lines.join('\n')).toContain(`kubectl holding an id_token signed by ${bad} is refused until that token expires`);
    const audit = await env.store.listAudit({ limit: 5, kind: 'key.revoked' });
    expect(audit.map((e) => e.details)).toEqual([{ by: 'admin-command', kid: bad, was_signing: true }]);
    expect(await revokeKey(env.rt.keys, bad, env.clock.now(), 30)).toEqual([`signing key ${bad} was already revoked; ${now} signs`]);
  });

  it('refuses an unknown key id with an AdminError', async () => {
    await expect(revokeKey(env.rt.keys, 'nope', env.clock.now(), 30)).rejects.toThrow(new AdminError('not_found', 'no signing key nope (see `kubegate keys`)'));
  });
});
