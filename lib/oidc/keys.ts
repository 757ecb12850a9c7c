import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { isSealed, rowId, type KeyEncryptionKey } from '../crypto/kek';
import type { AuditInput, SigningKeyRow, Store } from '../store/types';
import { AppError } from '../util/errors';
import { silentLogger, type Logger } from '../util/log';

export type SigningAlg = 'RS256' | 'ES256';

export interface ActiveKey {
  kid: string;
  alg: SigningAlg;
  key: CryptoKey;
}

export interface KeyPolicy {
  alg: SigningAlg;
  /** A key that has signed for this long is replaced (its successor published `publishAheadMs` before). */
  rotationPeriodMs: number;
  /**
   * How long a retired key stays in the JWKS after its successor started
   * signing: at least the longest id_token lifetime, plus a margin for clock
   * skew and verifiers' JWKS caches.
   */
  retainMs: number;
  /**
   * How long a new key is in the JWKS before it signs anything (scheduled
   * rotation and `rotate-key`), so every verifier that caches the JWKS
   * knows it by then (see key-timing.ts).
   */
  publishAheadMs: number;
}

/** Makes a fresh signing key row (kid = RFC 7638 thumbprint), its private half encrypted with `kek`. */
export async function generateSigningKey(
  alg: SigningAlg,
  now: number,
  kek: KeyEncryptionKey,
  activatesAt: number = now,
): Promise<SigningKeyRow> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    alg,
    private_jwk: await kek.seal(rowId.signingKey(kid), JSON.stringify({ ...privateJwk, kid, alg })),
    public_jwk: JSON.stringify({ ...publicJwk, kid, alg, use: 'sig' }),
    created_at: now,
    activates_at: activatesAt,
    retired_at: null,
    expires_at: null,
    revoked_at: null,
  };
}

/** What the stored key rows mean at one instant, and what should change. */
export interface KeyPlan {
  /** The key that signs now: the unrevoked, unretired key that activated last. */
  signing: SigningKeyRow | undefined;
  /** The next key: published, not signing yet (the one that activates first). */
  next: SigningKeyRow | undefined;
  /** What /oidc/jwks lists, newest first. */
  published: SigningKeyRow[];
  /** Keys `signing` superseded whose retirement is not stored yet. */
  toRetire: string[];
  /** Nothing to do; a key must sign now (none can); or publish the next key, to sign at `activatesAt`. */
  action: { kind: 'none' } | { kind: 'create_now' } | { kind: 'schedule'; activatesAt: number; reason: 'rotation_due' | 'algorithm_changed' };
}

const byActivationDesc = (a: SigningKeyRow, b: SigningKeyRow) => b.activates_at - a.activates_at || b.created_at - a.created_at;

/**
 * The key schedule, as a pure function of the rows and the time:
 * - a key is published from its creation until its expiry, unless revoked;
 * - it signs from its `activates_at` until a later key activates (or its
 *   stored `retired_at`); revoked keys never sign and are never published;
 * - a key that was superseded leaves the JWKS `retainMs` after its
 *   successor's activation, so every token it signed has expired by then;
 * - rotation is due `publishAheadMs` before the signing key has signed for
 *   `rotationPeriodMs` (or at once when the configured algorithm changed):
 *   the next key is then published, to sign `publishAheadMs` later.
 */
export function planKeys(rows: SigningKeyRow[], now: number, policy: KeyPolicy): KeyPlan {
  const live = rows.filter((r) => r.revoked_at === null);
  const unretiredAt = (r: SigningKeyRow, t: number) => r.retired_at === null || r.retired_at > t;
  const signing = live.filter((r) => r.activates_at <= now && unretiredAt(r, now)).sort(byActivationDesc)[0];
  const pending = live.filter((r) => r.activates_at > now && unretiredAt(r, r.activates_at)).sort((a, b) => -byActivationDesc(a, b));
  const toRetire = signing ? live.filter((r) => r.retired_at === null && r !== signing && r.activates_at < signing.activates_at) : [];
  const expiresAt = (r: SigningKeyRow) => (toRetire.includes(r) ? signing!.activates_at + policy.retainMs : r.expires_at);
  const published = live.filter((r) => {
    const e = expiresAt(r);
    return e === null || e > now;
  });

  let action: KeyPlan['action'] = { kind: 'none' };
  if (!signing) action = { kind: 'create_now' };
  else if (!pending.some((r) => r.alg === policy.alg)) {
    if (signing.alg !== policy.alg) action = { kind: 'schedule', activatesAt: now + policy.publishAheadMs, reason: 'algorithm_changed' };
    else if (now >= signing.activates_at + policy.rotationPeriodMs - policy.publishAheadMs) {
      action = { kind: 'schedule', activatesAt: now + policy.publishAheadMs, reason: 'rotation_due' };
    }
  }
  return { signing, next: pending[0], published, toRetire: toRetire.map((r) => r.kid), action };
}

/**
 * Throws KekError unless every encrypted private half in the store was
 * written with `kek`. Reads only: run before anything is written at start.
 */
export async function assertKeysSealedWith(store: Store, kek: KeyEncryptionKey): Promise<void> {
  for (const r of await store.listSigningKeys()) if (isSealed(r.private_jwk)) kek.check(rowId.signingKey(r.kid), r.private_jwk);
}

export type KeyStatus = 'signing' | 'next' | 'retired' | 'revoked';

export interface KeyListing {
  kid: string;
  alg: string;
  status: KeyStatus;
  published: boolean;
  created_at: number;
  activates_at: number;
  /** When it stops (or stopped) signing, when known. */
  retires_at: number | null;
  /** When it leaves (or left) the JWKS, when known. */
  expires_at: number | null;
  revoked_at: number | null;
}

export class KeyError extends AppError {
  constructor(code: 'unknown_kid', message: string) {
    super(code, message);
  }
}

/**
 * Signing keys, held in memory and kept in step with the store. The JWKS
 * document is serialized once per key change, so serving it costs nothing.
 * Every process re-reads the keys every KEY_SYNC_INTERVAL_SECONDS (see
 * runtime.ts), so a change made by one (or by the admin command) reaches
 * all within that interval; the schedule itself (planKeys) is the same
 * wherever it is computed. Private halves are stored encrypted with the KEK
 * and decrypted only for the key that signs.
 */
export class KeyManager {
  private active!: ActiveKey;
  private jwksBody = '{"keys":[]}';
  private loadedKids = '';
  private rows: SigningKeyRow[] = [];

  private constructor(
    private readonly store: Store,
    private readonly policy: KeyPolicy,
    private readonly kek: KeyEncryptionKey,
    private readonly log: Logger,
  ) {}

  static async open(store: Store, policy: KeyPolicy, kek: KeyEncryptionKey, now: number, log: Logger = silentLogger): Promise<KeyManager> {
    const km = new KeyManager(store, policy, kek, log);
    await km.sync(now);
    return km;
  }

  /** The key that signs new tokens. */
  current(): ActiveKey {
    return this.active;
  }

  /** The JWKS document (RFC 7517), pre-serialized: the signing key, the next key, and retired keys not yet expired. */
  jwksJson(): string {
    return this.jwksBody;
  }

  /** The schedule as of the last sync, the next key to sign first: for `kubegate keys`. */
  listing(now: number): KeyListing[] {
    const plan = planKeys(this.rows, now, this.policy);
    // Newest to sign first; keys made in the same millisecond (a rotation right after the first
    // key was made) are still told apart by when they sign, then by when they were made.
    const ordered = [...this.rows].sort((a, b) => b.activates_at - a.activates_at || b.created_at - a.created_at || a.kid.localeCompare(b.kid));
    return ordered.map((r) => {
      const status: KeyStatus =
        r.revoked_at !== null ? 'revoked' : r === plan.signing ? 'signing' : r.activates_at > now && (r.retired_at === null || r.retired_at > now) ? 'next' : 'retired';
      // Not stored yet: superseded by the signing key, or the signing key that the next one will supersede.
      const successor = plan.toRetire.includes(r.kid)
        ? plan.signing!.activates_at
        : status === 'signing' && plan.next
          ? plan.next.activates_at
          : null;
      return {
        kid: r.kid,
        alg: r.alg,
        status,
        published: plan.published.includes(r),
        created_at: r.created_at,
        activates_at: r.activates_at,
        retires_at: r.retired_at ?? successor,
        expires_at: r.expires_at ?? (successor === null ? null : successor + this.policy.retainMs),
        revoked_at: r.revoked_at,
      };
    });
  }

  /**
   * Reloads from the store and moves the schedule along: records the
   * retirement of keys a newer key superseded, makes a key at once when none
   * can sign (first start, or every key withdrawn), publishes the next key
   * when rotation is due, and encrypts any private half stored in clear.
   */
  async sync(now: number): Promise<void> {
    let rows = await this.store.listSigningKeys();
    // Before any write: a wrong KEK must never add rows the right one cannot read.
    for (const r of rows) if (isSealed(r.private_jwk)) this.kek.check(rowId.signingKey(r.kid), r.private_jwk);
    let plan = planKeys(rows, now, this.policy);
    let changed = await this.encryptInPlace(rows);
    if (plan.signing && plan.toRetire.length > 0) {
      await this.store.retireSigningKeysBefore(plan.signing, plan.signing.activates_at + this.policy.retainMs, now);
      changed = true;
    }
    // The plan was made from rows read before: the store adds the key only if it is still needed
    // once it holds the lock every replica takes, so replicas deciding together add one key.
    if (plan.action.kind === 'create_now') {
      await this.createNow(now);
      changed = true;
    } else if (plan.action.kind === 'schedule') {
      const next = await generateSigningKey(this.policy.alg, now, this.kek, plan.action.activatesAt);
      if (await this.store.addSigningKeyIfNeeded(next, now, { kind: 'next' })) {
        this.log.info('next signing key published', { kid: next.kid, alg: next.alg, activates_at: new Date(next.activates_at).toISOString(), reason: plan.action.reason });
      }
      changed = true;
    }
    if (changed) {
      await this.store.deleteExpiredSigningKeys(now);
      rows = await this.store.listSigningKeys();
      plan = planKeys(rows, now, this.policy);
      if (!plan.signing) {
        // Another replica made the first key while this one was making its own, and this replica's
        // `now` is a little earlier than that key's activation (read before it, or a clock behind):
        // a key made to sign at once signs from when it was made.
        const madeToSignNow = rows.filter((r) => r.revoked_at === null && r.retired_at === null && r.activates_at <= r.created_at);
        if (madeToSignNow.length) plan = planKeys(rows, Math.max(now, ...madeToSignNow.map((r) => r.activates_at)), this.policy);
      }
    }
    await this.load(rows, plan);
  }

  /**
   * Publishes a new key now, to sign `publishAheadMs` from now (the old key
   * signs until then and stays published until its tokens have expired).
   * When a next key is already published, returns that one instead.
   */
  async rotate(now: number): Promise<{ kid: string; activatesAt: number; alreadyScheduled: boolean }> {
    await this.sync(now);
    const scheduled = planKeys(this.rows, now, this.policy).next;
    if (scheduled && scheduled.alg === this.policy.alg) return { kid: scheduled.kid, activatesAt: scheduled.activates_at, alreadyScheduled: true };
    const next = await generateSigningKey(this.policy.alg, now, this.kek, now + this.policy.publishAheadMs);
    const added = await this.store.addSigningKeyIfNeeded(next, now, { kind: 'next' });
    await this.sync(now);
    if (!added) {
      // Another process (a replica's scheduled rotation, a second `rotate-key`) published one meanwhile.
      const other = planKeys(this.rows, now, this.policy).next;
      if (other) return { kid: other.kid, activatesAt: other.activates_at, alreadyScheduled: true };
    }
    return { kid: next.kid, activatesAt: next.activates_at, alreadyScheduled: false };
  }

  /**
   * Withdraws a key for good (compromised): out of the JWKS, never signs
   * again. A new key signs from now on, with no lead time: verifiers that
   * cache keys (kube-apiserver) fetch the JWKS again only when they meet a
   * kid they do not know, and that refetch is what makes them drop the
   * withdrawn key. Any next key that was published is superseded.
   */
  async revoke(kid: string, now: number, audit: Omit<AuditInput, 'kind'> = {}): Promise<{ revoked: boolean; wasSigning: boolean; current: string }> {
    await this.sync(now);
    const row = this.rows.find((r) => r.kid === kid);
    if (!row) throw new KeyError('unknown_kid', `no signing key ${kid}`);
    const wasSigning = planKeys(this.rows, now, this.policy).signing?.kid === kid;
    // The replacement is made first and activated in the revocation's own transaction: a running
    // server's key sync in between would otherwise find no signing key and make one of its own.
    const replacement = await generateSigningKey(this.policy.alg, now, this.kek);
    const revoked = await this.store.revokeSigningKey(kid, now, { ...audit, kind: 'key.revoked', details: { ...audit.details, was_signing: wasSigning } }, {
      next: replacement,
      retireExpiresAt: now + this.policy.retainMs,
    });
    if (revoked) this.log.info('new signing key signs now', { kid: replacement.kid, alg: replacement.alg });
    await this.sync(now);
    return { revoked, wasSigning, current: this.active.kid };
  }

  private async createNow(now: number): Promise<void> {
    const key = await generateSigningKey(this.policy.alg, now, this.kek);
    if (await this.store.addSigningKeyIfNeeded(key, now, { kind: 'first', retireExpiresAt: now + this.policy.retainMs })) {
      this.log.info('new signing key signs now', { kid: key.kid, alg: key.alg });
    }
  }

  /** Private halves an earlier version stored in clear are encrypted in place (compare-and-set). */
  private async encryptInPlace(rows: SigningKeyRow[]): Promise<boolean> {
    let changed = false;
    for (const r of rows) {
      if (isSealed(r.private_jwk)) continue;
      const sealed = await this.kek.seal(rowId.signingKey(r.kid), r.private_jwk);
      if (await this.store.replaceSigningKeyPrivate(r.kid, r.private_jwk, sealed)) {
        this.log.warn('signing key was stored in clear; encrypted it in place', { kid: r.kid });
      }
      changed = true;
    }
    return changed;
  }

  private async load(rows: SigningKeyRow[], plan: KeyPlan): Promise<void> {
    this.rows = rows;
    const current = plan.signing;
    if (!current) throw new Error('no signing key in the store');
    const kids = plan.published.map((r) => r.kid).join(',');
    if (kids === this.loadedKids && this.active?.kid === current.kid) return;
    if (this.active?.kid !== current.kid) {
      const privateJwk = JSON.parse(await this.kek.open(rowId.signingKey(current.kid), current.private_jwk)) as JWK;
      if (privateJwk.kid !== current.kid) throw new Error(`signing key ${current.kid} holds the private half of ${String(privateJwk.kid)}`);
      const key = (await importJWK(privateJwk, current.alg)) as CryptoKey;
      this.active = { kid: current.kid, alg: current.alg as SigningAlg, key };
    }
    this.jwksBody = JSON.stringify({ keys: plan.published.map((r) => JSON.parse(r.public_jwk) as JWK) });
    this.loadedKids = kids;
  }
}
