import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, calculateJwkThumbprint, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyEncryptionKey, KekError } from '../crypto/kek';
import { openSqliteStore } from '../store/sqlite';
import type { SigningKeyRow, Store } from '../store/types';
import { HOUR, MINUTE, SECOND, seedSigningKey, T0, TestClock, testKek } from '../../test/support/fixtures';
import { signIdToken } from './id-token';
import { DEFAULT_JWKS_MAX_AGE_SECONDS, KEY_SYNC_INTERVAL_SECONDS, MIN_PUBLISH_AHEAD_SECONDS, minPublishAheadSeconds } from './key-timing';
import { KeyError, KeyManager, planKeys, type KeyPolicy } from './keys';

const LEAD = MIN_PUBLISH_AHEAD_SECONDS * SECOND;
const policy: KeyPolicy = { alg: 'ES256', rotationPeriodMs: 30 * 24 * HOUR, retainMs: 11 * MINUTE, publishAheadMs: LEAD };

let store: Store;
let clock: TestClock;
let kek: KeyEncryptionKey;
beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  clock = new TestClock();
  kek = await testKek();
});
afterEach(async () => {
  await store.close();
});

const jwks = (km: KeyManager) => (JSON.parse(km.jwksJson()) as { keys: JWK[] }).keys;
const kids = (km: KeyManager) => jwks(km).map((k) => k.kid);

async function sign(km: KeyManager, at = clock.now()): Promise<string> {
  const iat = Math.floor(at / 1000);
  return signIdToken({ iss: 'https://kubegate.example.com', sub: 'u', aud: 'kubernetes', iat, exp: iat + 60 }, km.current());
}

/** What kube-apiserver does with a JWKS document it holds. */
function verifyWith(doc: string | JSONWebKeySet, token: string, at = clock.now()) {
  return jwtVerify(token, createLocalJWKSet(typeof doc === 'string' ? (JSON.parse(doc) as JSONWebKeySet) : doc), {
    issuer: 'https://kubegate.example.com',
    audience: 'kubernetes',
    currentDate: new Date(at),
  });
}

/** A row as planKeys sees it; only the times matter. */
const row = (kid: string, over: Partial<SigningKeyRow> = {}): SigningKeyRow => ({
  kid,
  alg: 'ES256',
  private_jwk: '',
  public_jwk: '{}',
  created_at: T0,
  activates_at: T0,
  retired_at: null,
  expires_at: null,
  revoked_at: null,
  ...over,
});

describe('planKeys: the key schedule at one instant', () => {
  const kidsOf = (rows: SigningKeyRow[]) => rows.map((r) => r.kid);

  it('asks for a key at once when none can sign: first start, or every key withdrawn (a restore)', () => {
    expect(planKeys([], T0, policy).action).toEqual({ kind: 'create_now' });
    const all = [row('a', { revoked_at: T0 }), row('b', { activates_at: T0 + HOUR, revoked_at: T0 })];
    const plan = planKeys(all, T0 + MINUTE, policy);
    expect(plan).toMatchObject({ signing: undefined, next: undefined, published: [], action: { kind: 'create_now' } });
  });

  it('publishes the next key publishAhead before the rotation period ends, and does so once', () => {
    const a = row('a');
    const due = T0 + policy.rotationPeriodMs - LEAD;
    expect(planKeys([a], due - 1, policy).action).toEqual({ kind: 'none' });
    expect(planKeys([a], due, policy).action).toEqual({ kind: 'schedule', activatesAt: due + LEAD, reason: 'rotation_due' });
    const b = row('b', { created_at: due, activates_at: due + LEAD });
    const plan = planKeys([b, a], due + 1, policy);
    expect(plan.action).toEqual({ kind: 'none' });
    expect(plan.signing).toBe(a);
    expect(plan.next).toBe(b);
    expect(kidsOf(plan.published)).toEqual(['b', 'a']);
  });

  it('switches to the next key at its activation; the old key stays published for retainMs after that, then leaves', () => {
    const a = row('a');
    const b = row('b', { created_at: T0 + HOUR, activates_at: T0 + HOUR + LEAD });
    const before = planKeys([b, a], b.activates_at - 1, policy);
    expect([before.signing?.kid, before.toRetire]).toEqual(['a', []]);
    const at = planKeys([b, a], b.activates_at, policy);
    expect([at.signing?.kid, at.next, at.toRetire, kidsOf(at.published)]).toEqual(['b', undefined, ['a'], ['b', 'a']]);
    // The same answer once the retirement is stored, and after the retention a leaves the JWKS.
    const stored = row('a', { retired_at: b.activates_at, expires_at: b.activates_at + policy.retainMs });
    expect(kidsOf(planKeys([b, stored], b.activates_at + policy.retainMs - 1, policy).published)).toEqual(['b', 'a']);
    expect(kidsOf(planKeys([b, stored], b.activates_at + policy.retainMs, policy).published)).toEqual(['b']);
    expect(kidsOf(planKeys([b, a], b.activates_at + policy.retainMs, policy).published)).toEqual(['b']);
  });

  it('never lets a revoked key sign or be published, nor a retired key sign again', () => {
    const a = row('a', { retired_at: T0 + HOUR, expires_at: T0 + 2 * HOUR });
    const b = row('b', { activates_at: T0 + HOUR, revoked_at: T0 + 90 * MINUTE });
    const plan = planKeys([b, a], T0 + 91 * MINUTE, policy);
    expect(plan.signing).toBeUndefined();
    expect(kidsOf(plan.published)).toEqual(['a']);
    expect(plan.action).toEqual({ kind: 'create_now' });
  });

  it('drops a next key that an immediate key superseded before it activated', () => {
    const a = row('a', { retired_at: T0 + MINUTE, expires_at: T0 + HOUR });
    const next = row('n', { activates_at: T0 + 5 * MINUTE, retired_at: T0 + MINUTE, expires_at: T0 + HOUR });
    const now = row('c', { activates_at: T0 + MINUTE });
    const plan = planKeys([now, next, a], T0 + 10 * MINUTE, policy);
    expect([plan.signing?.kid, plan.next]).toEqual(['c', undefined]);
  });

  it('publishes a key of the configured algorithm ahead when the algorithm changes', () => {
    const rs = row('rs', { alg: 'RS256' });
    expect(planKeys([rs], T0 + MINUTE, policy).action).toEqual({ kind: 'schedule', activatesAt: T0 + MINUTE + LEAD, reason: 'algorithm_changed' });
  });
});

describe('KeyManager', () => {
  it('creates the first key, publishes only its public half, and keeps the private half encrypted at rest', async () => {
    const km = await KeyManager.open(store, policy, kek, clock.now());
    const [key, ...rest] = jwks(km);
    expect(rest).toEqual([]);
    expect(key).toMatchObject({ kid: km.current().kid, alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256' });
    expect(key).not.toHaveProperty('d');
    const token = await sign(km);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: km.current().kid });
    await verifyWith(km.jwksJson(), token);
    expect(await store.listAudit({ limit: 10, kind: 'key.created' })).toHaveLength(1);
    const [stored] = await store.listSigningKeys();
    expect(stored!.private_jwk).toMatch(/^eyJ/);
    expect(stored!.private_jwk).not.toContain('"d"');
    expect(decodeProtectedHeader(stored!.private_jwk)).toMatchObject({ alg: 'dir', enc: 'A256GCM', kid: kek.kid });
  });

  it('rotate(): publishes now, signs only publishAhead later, keeps the old key until its tokens have expired', async () => {
    const km = await KeyManager.open(store, policy, kek, clock.now());
    const oldKid = km.current().kid;
    clock.advance(HOUR);
    const r = await km.rotate(clock.now());
    expect(r).toEqual({ kid: expect.any(String), activatesAt: clock.now() + LEAD, alreadyScheduled: false });
    expect(kids(km)).toEqual([r.kid, oldKid]);
    expect(km.current().kid).toBe(oldKid);
    expect(await km.rotate(clock.advance(SECOND))).toEqual({ ...r, alreadyScheduled: true });
    expect((await store.listAudit({ limit: 10, kind: 'key.published' })).map((e) => e.details.kid)).toEqual([r.kid]);

    await km.sync(clock.set(r.activatesAt - 1));
    expect(km.current().kid).toBe(oldKid);
    const lastOld = await sign(km);
    await km.sync(clock.set(r.activatesAt));
    expect(km.current().kid).toBe(r.kid);
    expect(decodeProtectedHeader(await sign(km)).kid).toBe(r.kid);
    expect(kids(km)).toEqual([r.kid, oldKid]);
    expect((await store.listAudit({ limit: 10, kind: 'key.rotated' })).map((e) => e.details)).toEqual([{ kid: r.kid, retired: [oldKid] }]);

    // The last token the old key signed verifies until it expires; the old key leaves retainMs after the switch.
    await verifyWith(km.jwksJson(), lastOld, r.activatesAt + 58 * SECOND);
    await km.sync(clock.set(r.activatesAt + policy.retainMs - 1));
    expect(kids(km)).toEqual([r.kid, oldKid]);
    await km.sync(clock.set(r.activatesAt + policy.retainMs));
    expect(kids(km)).toEqual([r.kid]);
    expect(jwks(km).every((k) => !('d' in k))).toBe(true);
  });

  it.each([
    ['a verifier that honours max-age and never fetches early', 'max-age', DEFAULT_JWKS_MAX_AGE_SECONDS],
    ['a verifier that honours a 7 s max-age, with publish_ahead at its 22 s minimum', 'max-age', 7],
    ['a default jose createRemoteJWKSet (10 min cache, refetch on an unknown kid after a 30 s cooldown)', 'jose', DEFAULT_JWKS_MAX_AGE_SECONDS],
  ] as const)('a rotation never fails %s', async (_, kind, maxAgeSeconds) => {
    // Every second for the whole rotation: the server signs, the verifier verifies with what it holds.
    const lead = minPublishAheadSeconds(maxAgeSeconds) * SECOND;
    const leadPolicy: KeyPolicy = { ...policy, publishAheadMs: lead };
    const km = await KeyManager.open(store, leadPolicy, kek, clock.now());
    let held = km.jwksJson();
    let fetchedAt = clock.now();
    const fetch = () => {
      held = km.jwksJson();
      fetchedAt = clock.now();
    };
    const start = clock.advance(HOUR);
    let failures = 0;
    let rotation: { kid: string; activatesAt: number } | undefined;
    const kidsSigned = new Set<string>();
    for (let t = start; t < start + lead + 3 * MINUTE; t += SECOND) {
      clock.set(t);
      // The admin command (its own process) runs between the server's sync ticks: the server learns of it at its next one.
      if (t === start + 7 * SECOND) rotation = await (await KeyManager.open(store, leadPolicy, kek, t)).rotate(t);
      if ((t - start) % (KEY_SYNC_INTERVAL_SECONDS * SECOND) === 0) await km.sync(t);
      const maxAge = kind === 'max-age' ? maxAgeSeconds * SECOND : 10 * MINUTE;
      if (t - fetchedAt >= maxAge) fetch();
      const token = await sign(km, t);
      kidsSigned.add(decodeProtectedHeader(token).kid!);
      const known = (JSON.parse(held) as JSONWebKeySet).keys.some((k) => k.kid === decodeProtectedHeader(token).kid);
      if (!known && kind === 'jose' && t - fetchedAt >= 30 * SECOND) fetch();
      await verifyWith(held, token, t).catch(() => failures++);
    }
    expect(rotation).toBeDefined();
    expect(kidsSigned).toEqual(new Set([rotation!.kid, (await store.listSigningKeys()).find((k) => k.kid !== rotation!.kid)!.kid]));
    expect(failures).toBe(0);
  });

  it('publishes the next key on sync when rotation is due, and switches publishAhead later', async () => {
    const km = await KeyManager.open(store, policy, kek, clock.now());
    const first = km.current().kid;
    await km.sync(clock.advance(policy.rotationPeriodMs - LEAD - 1));
    expect(kids(km)).toEqual([first]);
    await km.sync(clock.advance(1));
    expect(kids(km)).toHaveLength(2);
    expect(km.current().kid).toBe(first);
    await km.sync(clock.advance(LEAD));
    expect(km.current().kid).not.toBe(first);
    expect(kids(km)).toEqual([km.current().kid, first]);
  });

  it('changing the algorithm RS256 → ES256 publishes an ES256 key ahead; RS256 signs until then and stays published', async () => {
    await seedSigningKey(store, 'RS256', clock.now());
    const rs = await KeyManager.open(store, { ...policy, alg: 'RS256' }, kek, clock.now());
    const rsKid = rs.current().kid;
    const rsToken = await sign(rs);

    // The config now says ES256; the process restarts (or a replica syncs).
    clock.advance(MINUTE);
    const es = await KeyManager.open(store, { ...policy, alg: 'ES256' }, kek, clock.now());
    expect(es.current()).toMatchObject({ alg: 'RS256', kid: rsKid });
    const [next] = jwks(es);
    expect(next).toMatchObject({ alg: 'ES256' });
    await es.sync(clock.advance(LEAD));
    expect(es.current()).toMatchObject({ alg: 'ES256', kid: next!.kid });
    expect(jwks(es).map((k) => [k.kid, k.alg])).toEqual([
      [next!.kid, 'ES256'],
      [rsKid, 'RS256'],
    ]);
    // Still published: a token it signed just before verifies (at a time it has not expired).
    await verifyWith(es.jwksJson(), rsToken, T0 + 30 * SECOND);
    expect(decodeProtectedHeader(await sign(es)).alg).toBe('ES256');
  });

  it('lets a second replica follow a rotation done by the first, without rotating again', async () => {
    const a = await KeyManager.open(store, policy, kek, clock.now());
    const b = await KeyManager.open(store, policy, kek, clock.now());
    expect(b.current().kid).toBe(a.current().kid);
    const next = await a.rotate(clock.advance(HOUR));
    await b.sync(clock.advance(KEY_SYNC_INTERVAL_SECONDS * SECOND));
    expect(b.jwksJson()).toBe(a.jwksJson());
    await b.sync(clock.set(next.activatesAt));
    await a.sync(clock.now());
    expect(b.current().kid).toBe(next.kid);
    expect(a.current().kid).toBe(next.kid);
    expect(await store.listSigningKeys()).toHaveLength(2);
    expect(await store.listAudit({ limit: 10, kind: 'key.rotated' })).toHaveLength(1);
  });

  it('signs with the stored key after a restart', async () => {
    const a = await KeyManager.open(store, policy, kek, clock.now());
    clock.advance(HOUR);
    const b = await KeyManager.open(store, policy, kek, clock.now());
    expect(b.current().kid).toBe(a.current().kid);
    await verifyWith(a.jwksJson(), await sign(b));
  });

  describe('revoke', () => {
    it('withdraws the signing key at once: its tokens stop verifying, a new key signs now, and it never comes back', async () => {
      const km = await KeyManager.open(store, policy, kek, clock.now());
      const bad = km.current().kid;
      const token = await sign(km);
      const r = await km.revoke(bad, clock.advance(MINUTE), { details: { by: 'test' } });
      expect(r).toEqual({ revoked: true, wasSigning: true, current: km.current().kid });
      expect(r.current).not.toBe(bad);
      expect(kids(km)).toEqual([r.current]);
      await expect(verifyWith(km.jwksJson(), token)).rejects.toThrow();
      await verifyWith(km.jwksJson(), await sign(km));
      expect((await store.listAudit({ limit: 10, kind: 'key.revoked' })).map((e) => e.details)).toEqual([{ by: 'test', kid: bad, was_signing: true }]);

      for (const t of [MINUTE, policy.rotationPeriodMs]) {
        await km.sync(clock.advance(t));
        expect(kids(km)).not.toContain(bad);
        expect(km.current().kid).not.toBe(bad);
      }
      expect(await km.revoke(r.current, clock.now()).then((x) => x.revoked)).toBe(true);
      await expect(km.revoke('no-such-kid', clock.now())).rejects.toThrow(KeyError);
    });

    it('withdraws a retired or next key too, and makes a new key sign now so caching verifiers fetch the JWKS again', async () => {
      const km = await KeyManager.open(store, policy, kek, clock.now());
      const old = km.current().kid;
      const next = await km.rotate(clock.advance(HOUR));
      const r = await km.revoke(next.kid, clock.advance(MINUTE));
      expect(r).toMatchObject({ revoked: true, wasSigning: false });
      expect([old, next.kid]).not.toContain(r.current);
      expect(kids(km)).toEqual([r.current, old]);
      // The superseded next key never signs, even at its planned activation.
      await km.sync(clock.set(next.activatesAt + MINUTE));
      expect(km.current().kid).toBe(r.current);
      expect(await km.revoke(next.kid, clock.now())).toMatchObject({ revoked: false });
    });

    it('makes a fresh key at open when every key was withdrawn (as a restore does)', async () => {
      const km = await KeyManager.open(store, policy, kek, clock.now());
      const withdrawn = km.current().kid;
      await store.revokeSigningKey(withdrawn, clock.advance(MINUTE), { kind: 'key.revoked', details: { reason: 'restored' } });
      const after = await KeyManager.open(store, policy, kek, clock.advance(SECOND));
      expect(after.current().kid).not.toBe(withdrawn);
      expect(kids(after)).toEqual([after.current().kid]);
    });
  });

  describe('at rest', () => {
    it('encrypts a private half an earlier version stored in clear, in place, and keeps signing with it', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const pub = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(pub);
      const clear = JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' });
      await store.activateSigningKey(
        { kid, alg: 'ES256', private_jwk: clear, public_jwk: JSON.stringify({ ...pub, kid, alg: 'ES256', use: 'sig' }), created_at: T0, activates_at: T0, retired_at: null, expires_at: null, revoked_at: null },
        T0,
        T0,
      );
      const km = await KeyManager.open(store, policy, kek, clock.now());
      expect(km.current().kid).toBe(kid);
      const [stored] = await store.listSigningKeys();
      expect(stored!.private_jwk).not.toBe(clear);
      expect(stored!.private_jwk).not.toContain('"d"');
      expect(await kek.open(`signing_keys/${kid}`, stored!.private_jwk)).toBe(clear);
      await verifyWith(km.jwksJson(), await sign(km));
    });

    it('refuses another KEK before writing anything, naming both', async () => {
      await KeyManager.open(store, policy, kek, clock.now());
      const other = (await KeyEncryptionKey.parse(Buffer.alloc(32, 9).toString('base64'), 'OTHER')) as KeyEncryptionKey;
      const before = await store.listSigningKeys();
      // Rotation is due: a manager with the wrong key must still not add a key the right one cannot read.
      const err = await KeyManager.open(store, policy, other, clock.advance(policy.rotationPeriodMs)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KekError);
      expect((err as KekError).code).toBe('kek_mismatch');
      expect((err as KekError).message).toContain(kek.kid);
      expect((err as KekError).message).toContain(other.kid);
      expect(await store.listSigningKeys()).toEqual(before);
    });
  });
});
