import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, createLocalJWKSet, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { idTokenClaims, signIdToken, signIdTokenSync, type IdTokenInput } from './id-token';
import type { ActiveKey, SigningAlg } from './keys';

const T = Date.UTC(2031, 0, 1); // on a whole second
const S = 1000;
const user = { id: 'u-1', username: 'alice', groups: ['ops'], name: null, email: null };

function input(o: { now: number; auth_time: number; expires_at: number; lifetime?: number }): IdTokenInput {
  return {
    issuer: 'https://kubegate.example.com',
    audience: 'kubernetes',
    user,
    session: { auth_time: o.auth_time, expires_at: o.expires_at, amr: ['pwd'] },
    now: o.now,
    lifetimeSeconds: o.lifetime ?? 60,
  };
}

describe('idTokenClaims: times, with an injected clock', () => {
  const sec = (ms: number) => Math.floor(ms / 1000);
  it.each([
    ['an ordinary refresh', { now: T + 500, auth_time: T - 3600 * S, expires_at: T + 8 * 3600 * S }, { iat: sec(T), exp: sec(T) + 60, auth_time: sec(T) - 3600 }],
    ['a session ending before the lifetime: exp is the session end', { now: T, auth_time: T - S, expires_at: T + 25 * S }, { iat: sec(T), exp: sec(T) + 25, auth_time: sec(T) - 1 }],
    ['a session ending 1 s after iat: one second left', { now: T + 999, auth_time: T - S, expires_at: T + 1000 + 999 }, { iat: sec(T), exp: sec(T) + 1, auth_time: sec(T) - 1 }],
    // Regression: a clock that stepped back since sign-in gave auth_time > iat.
    ['signed in "in the future" (clock stepped back 5 min): auth_time is iat', { now: T, auth_time: T + 300 * S, expires_at: T + 3600 * S }, { iat: sec(T), exp: sec(T) + 60, auth_time: sec(T) }],
    ['signed in within the same second, later in it', { now: T + 100, auth_time: T + 900, expires_at: T + 3600 * S }, { iat: sec(T), exp: sec(T) + 60, auth_time: sec(T) }],
  ])('%s', (_, i, expected) => {
    const claims = idTokenClaims(input(i))!;
    expect(claims).toMatchObject(expected);
    expect(claims.auth_time).toBeLessThanOrEqual(claims.iat);
    expect(claims.exp).toBeGreaterThan(claims.iat);
  });

  // Regression: a session ending within the current second gave exp == iat
  // (expires_in 0): an id_token expired when it was signed.
  it.each([
    ['the session ends later in this same second', { now: T + 100, auth_time: T - S, expires_at: T + 900 }],
    ['the session ends exactly at the next whole second minus one ms', { now: T, auth_time: T - S, expires_at: T + 999 }],
    ['the session already ended', { now: T, auth_time: T - 3600 * S, expires_at: T - S }],
  ])('issues nothing already expired: %s', (_, i) => {
    expect(idTokenClaims(input(i))).toBeUndefined();
  });
});

describe('signIdToken: node:crypto signing, the bytes jose produces', () => {
  /** A key as the KeyManager holds it: a private JWK imported with jose (a CryptoKey). */
  async function activeKey(alg: SigningAlg): Promise<{ key: ActiveKey; jwks: ReturnType<typeof createLocalJWKSet> }> {
    const pair = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    const kid = `kid-${alg}`;
    const key = (await importJWK({ ...(await exportJWK(pair.privateKey)), alg }, alg)) as CryptoKey;
    const pub: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' };
    return { key: { kid, alg, key }, jwks: createLocalJWKSet({ keys: [pub] }) };
  }
  const claims = idTokenClaims({
    issuer: 'https://kubegate.example.com',
    audience: 'kubernetes',
    user: { id: 'u-1', username: 'alice', groups: ['ops', 'développeurs', 'a"b\\c'], name: 'Ålice Ünïcode', email: 'alice@example.com' },
    session: { auth_time: Date.now() - 60_000, expires_at: Date.now() + 3600_000, amr: ['pwd', 'otp'] },
    now: Date.now(),
    lifetimeSeconds: 60,
    nonce: 'n-0S6_WzA2Mj',
  })!;

  it.each(['RS256', 'ES256'] as const)('%s: jose verifies it, and header and payload are byte for byte what SignJWT makes', async (alg) => {
    const { key, jwks } = await activeKey(alg);
    const token = signIdTokenSync(claims, key);
    const verified = await jwtVerify(token, jwks, { issuer: 'https://kubegate.example.com', audience: 'kubernetes', algorithms: [alg] });
    expect(verified.protectedHeader).toEqual({ alg, kid: key.kid, typ: 'JWT' });
    expect(verified.payload).toEqual(claims);
    const fromJose = await new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.key);
    const [h, p, sig] = token.split('.');
    const [jh, jp, jsig] = fromJose.split('.');
    expect(h).toBe(jh);
    expect(p).toBe(jp);
    // RSASSA-PKCS1-v1_5 is deterministic: the whole token is jose's. ECDSA signatures are randomized, of the same r‖s size.
    if (alg === 'RS256') expect(sig).toBe(jsig);
    else expect(Buffer.from(sig!, 'base64url')).toHaveLength(Buffer.from(jsig!, 'base64url').length);
    expect(await signIdToken(claims, key)).toMatch(new RegExp(`^${h}\\.${p}\\.`));
  });

  it('a signature that does not match is refused by jose (the verification above is not vacuous)', async () => {
    const { key, jwks } = await activeKey('ES256');
    const other = await activeKey('ES256');
    const forged = signIdTokenSync(claims, { ...other.key, kid: key.kid });
    await expect(jwtVerify(forged, jwks)).rejects.toThrow(/signature/);
  });

  it('refuses a key of the wrong type for the algorithm, and non-finite times', async () => {
    const { key } = await activeKey('ES256');
    expect(() => signIdTokenSync(claims, { ...key, alg: 'RS256' })).toThrow(/RSA/);
    const rsa = await activeKey('RS256');
    expect(() => signIdTokenSync(claims, { ...rsa.key, alg: 'ES256' })).toThrow(/P-256/);
    expect(() => signIdTokenSync({ ...claims, exp: Infinity }, key)).toThrow(/finite/);
  });
});
