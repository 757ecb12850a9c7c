import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite';
import type { Store } from '../store/types';
import { HOUR, MINUTE, seedSigningKey, TestClock } from '../../test/support/fixtures';
import { signIdToken } from './id-token';
import { KeyManager, type KeyPolicy } from './keys';

const policy: KeyPolicy = { alg: 'ES256', rotationPeriodMs: 30 * 24 * HOUR, retainMs: 11 * MINUTE };

let store: Store;
let clock: TestClock;
beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  clock = new TestClock();
});
afterEach(async () => {
  await store.close();
});

const jwks = (km: KeyManager) => (JSON.parse(km.jwksJson()) as { keys: JWK[] }).keys;
const kids = (km: KeyManager) => jwks(km).map((k) => k.kid);

async function sign(km: KeyManager): Promise<string> {
  const iat = Math.floor(clock.now() / 1000);
  return signIdToken({ iss: 'https://kubegate.example.com', sub: 'u', aud: 'kubernetes', iat, exp: iat + 3600 }, km.current());
}

/** What kube-apiserver does with our JWKS document. */
function verifyWith(km: KeyManager, token: string) {
  return jwtVerify(token, createLocalJWKSet(JSON.parse(km.jwksJson())), {
    issuer: 'https://kubegate.example.com',
    audience: 'kubernetes',
    currentDate: new Date(clock.now()),
  });
}

describe('KeyManager', () => {
  it('creates the first key and publishes only its public half', async () => {
    const km = await KeyManager.open(store, policy, clock.now());
    const [key, ...rest] = jwks(km);
    expect(rest).toEqual([]);
    expect(key).toMatchObject({ kid: km.current().kid, alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256' });
    expect(key).not.toHaveProperty('d');
    const token = await sign(km);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: km.current().kid });
    await verifyWith(km, token);
    expect(await store.listAudit({ limit: 10, kind: 'key.rotated' })).toHaveLength(1);
  });

  it('rotate(): the new kid signs, the old key stays published for retainMs, then sync() drops it', async () => {
    const km = await KeyManager.open(store, policy, clock.now());
    const oldKid = km.current().kid;
    clock.advance(HOUR);
    const oldToken = await sign(km); // signed just before the rotation
    const newKid = await km.rotate(clock.now());
    const rotatedAt = clock.now();
    expect(newKid).not.toBe(oldKid);
    expect(km.current().kid).toBe(newKid);
    expect(decodeProtectedHeader(await sign(km)).kid).toBe(newKid);
    expect(kids(km)).toEqual([newKid, oldKid]);

    // A token signed by the old key still verifies while it is retained.
    clock.set(rotatedAt + policy.retainMs - 1);
    await km.sync(clock.now());
    expect(kids(km)).toEqual([newKid, oldKid]);
    await verifyWith(km, oldToken);
    expect(jwks(km).every((k) => !('d' in k))).toBe(true);

    clock.set(rotatedAt + policy.retainMs);
    await km.sync(clock.now());
    expect(kids(km)).toEqual([newKid]);
    await expect(verifyWith(km, oldToken)).rejects.toThrow();
    await verifyWith(km, await sign(km));
    expect(km.current().kid).toBe(newKid);
  });

  it('deletes retired keys from the store once they have expired, at the next rotation', async () => {
    const km = await KeyManager.open(store, policy, clock.now());
    await km.rotate(clock.advance(HOUR));
    expect(await store.listSigningKeys()).toHaveLength(2);
    await km.rotate(clock.advance(policy.retainMs));
    const rows = await store.listSigningKeys();
    expect(rows.map((r) => r.kid)).toEqual([km.current().kid, expect.any(String)]);
    expect(rows).toHaveLength(2);
  });

  it('rotates on sync when the current key reaches the rotation period', async () => {
    const km = await KeyManager.open(store, policy, clock.now());
    const first = km.current().kid;
    await km.sync(clock.advance(policy.rotationPeriodMs - 1));
    expect(km.current().kid).toBe(first);
    await km.sync(clock.advance(1));
    expect(km.current().kid).not.toBe(first);
    expect(kids(km)).toEqual([km.current().kid, first]);
  });

  it('changing the algorithm RS256 → ES256 rotates on sync, keeping the RS256 key published', async () => {
    await seedSigningKey(store, 'RS256', clock.now());
    const rs = await KeyManager.open(store, { ...policy, alg: 'RS256' }, clock.now());
    const rsKid = rs.current().kid;
    const rsToken = await sign(rs);
    expect(decodeProtectedHeader(rsToken).alg).toBe('RS256');

    // The config now says ES256; the process restarts (or a replica syncs).
    clock.advance(MINUTE);
    const es = await KeyManager.open(store, { ...policy, alg: 'ES256' }, clock.now());
    expect(es.current()).toMatchObject({ alg: 'ES256' });
    expect(es.current().kid).not.toBe(rsKid);
    expect(jwks(es).map((k) => [k.kid, k.alg])).toEqual([
      [es.current().kid, 'ES256'],
      [rsKid, 'RS256'],
    ]);
    await verifyWith(es, rsToken);
    expect(decodeProtectedHeader(await sign(es)).alg).toBe('ES256');
  });

  it('lets a second replica pick up a rotation done by the first, without rotating again', async () => {
    const a = await KeyManager.open(store, policy, clock.now());
    const b = await KeyManager.open(store, policy, clock.now());
    expect(b.current().kid).toBe(a.current().kid);
    const next = await a.rotate(clock.advance(HOUR));
    await b.sync(clock.advance(30_000));
    expect(b.current().kid).toBe(next);
    expect(b.jwksJson()).toBe(a.jwksJson());
    expect(await store.listSigningKeys()).toHaveLength(2);
  });

  it('signs with the stored key after a restart', async () => {
    const a = await KeyManager.open(store, policy, clock.now());
    clock.advance(HOUR);
    const b = await KeyManager.open(store, policy, clock.now());
    expect(b.current().kid).toBe(a.current().kid);
    await verifyWith(a, await sign(b));
  });
});

