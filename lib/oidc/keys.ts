import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { SigningKeyRow, Store } from '../store/types';

export type SigningAlg = 'RS256' | 'ES256';

export interface ActiveKey {
  kid: string;
  alg: SigningAlg;
  key: CryptoKey;
}

export interface KeyPolicy {
  alg: SigningAlg;
  /** A key older than this is replaced at the next check. */
  rotationPeriodMs: number;
  /**
   * How long a retired key stays in the JWKS: at least the longest id_token
   * lifetime, plus a margin for clock skew and API-server JWKS caches.
   */
  retainMs: number;
}

/** Makes a fresh signing key row (kid = RFC 7638 thumbprint). */
export async function generateSigningKey(alg: SigningAlg, now: number): Promise<SigningKeyRow> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    alg,
    private_jwk: JSON.stringify({ ...privateJwk, kid, alg }),
    public_jwk: JSON.stringify({ ...publicJwk, kid, alg, use: 'sig' }),
    created_at: now,
    activates_at: now,
    retired_at: null,
    expires_at: null,
    revoked_at: null,
  };
}

/**
 * Signing keys, held in memory and kept in step with the store. The JWKS
 * document is serialized once per key change, so serving it costs nothing.
 * Every replica reloads on a timer (see runtime.ts), so a rotation done by
 * one is picked up by all well within `retainMs`.
 */
export class KeyManager {
  private active!: ActiveKey;
  private jwksBody = '{"keys":[]}';
  private loadedKids = '';

  private constructor(private readonly store: Store, private readonly policy: KeyPolicy) {}

  static async open(store: Store, policy: KeyPolicy, now: number): Promise<KeyManager> {
    const km = new KeyManager(store, policy);
    await km.sync(now);
    return km;
  }

  /** The key that signs new tokens. */
  current(): ActiveKey {
    return this.active;
  }

  /** The JWKS document (RFC 7517), pre-serialized: current key and retired keys not yet expired. */
  jwksJson(): string {
    return this.jwksBody;
  }

  /**
   * Reloads from the store; creates the first key, or rotates when the
   * current one is older than the rotation period or of another algorithm.
   */
  async sync(now: number): Promise<void> {
    let rows = await this.store.listSigningKeys();
    const current = rows.find((r) => r.retired_at === null);
    if (!current || current.alg !== this.policy.alg || now - current.created_at >= this.policy.rotationPeriodMs) {
      await this.rotate(now);
      rows = await this.store.listSigningKeys();
    }
    await this.load(rows, now);
  }

  /** Replaces the current key with a new one now; the old key stays published for `retainMs`. */
  async rotate(now: number): Promise<string> {
    const next = await generateSigningKey(this.policy.alg, now);
    await this.store.activateSigningKey(next, now + this.policy.retainMs, now);
    await this.store.deleteExpiredSigningKeys(now);
    await this.load(await this.store.listSigningKeys(), now);
    return next.kid;
  }

  private async load(rows: SigningKeyRow[], now: number): Promise<void> {
    const published = rows.filter((r) => r.retired_at === null || (r.expires_at !== null && r.expires_at > now));
    const current = rows.find((r) => r.retired_at === null);
    if (!current) throw new Error('no current signing key in the store');
    const kids = published.map((r) => r.kid).join(',');
    if (kids === this.loadedKids && this.active?.kid === current.kid) return;
    const privateJwk = JSON.parse(current.private_jwk) as JWK;
    const key = (await importJWK(privateJwk, current.alg)) as CryptoKey;
    this.active = { kid: current.kid, alg: current.alg as SigningAlg, key };
    this.jwksBody = JSON.stringify({ keys: published.map((r) => JSON.parse(r.public_jwk) as JWK) });
    this.loadedKids = kids;
  }
}
