/**
 * The store contract. Every backend (SQLite now, PostgreSQL for several
 * replicas) implements it and passes the same conformance suite
 * (conformance.ts). Times are epoch milliseconds. Refresh tokens appear
 * here only as hashes.
 */

export interface User {
  /** Stable, immutable, never an email: the id_token `sub`. */
  id: string;
  upstream: string;
  /** The upstream's own subject for this person. */
  subject: string;
  username: string;
  email: string | null;
  name: string | null;
  groups: string[];
  created_at: number;
  updated_at: number;
  /**
   * When the upstream last confirmed this person (sign-in or re-check:
   * lib/upstream/recheck.ts); null: never, a re-check is due. Always set by
   * the store; optional only so hand-built values need not name it.
   */
  checked_at?: number | null;
  /** Since when re-checks have found the upstream unavailable; null while it answers. */
  check_failing_since?: number | null;
}

export type MfaFactorKind = 'totp' | 'webauthn';

/** A second factor a person enrolled (lib/mfa/). */
export interface MfaFactor {
  id: string;
  user_id: string;
  kind: MfaFactorKind;
  /** The person's own name for it ("Phone", "YubiKey 5C"). */
  name: string;
  /**
   * TOTP: the shared secret, sealed with the key-encryption key. WebAuthn: the
   * credential's public part as JSON (credential id, public key, transports,
   * backup state): nothing secret.
   */
  data: string;
  /** WebAuthn credential id (base64url), unique across everyone; null for TOTP. */
  credential_id: string | null;
  created_at: number;
  /** A TOTP factor counts only once a first code confirmed it; WebAuthn is confirmed at registration. */
  confirmed_at: number | null;
  last_used_at: number | null;
  /** TOTP: the last time step accepted (no code works twice); WebAuthn: the signature counter. */
  counter: number | null;
}

export interface UserProfile {
  upstream: string;
  subject: string;
  username: string;
  email?: string | null;
  name?: string | null;
  groups: string[];
}

export interface LoginSession {
  id: string;
  user_id: string;
  upstream: string;
  amr: string[];
  auth_time: number;
  created_at: number;
  /** Absolute end of the session: no family minted from it outlives this. */
  expires_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
  client_ip: string | null;
  user_agent: string | null;
  /** Last time the browser used this session (for the web idle timeout). */
  last_seen_at: number;
}

/** Where a credential (refresh-token family) was handed out. */
export type CredentialOrigin = 'page' | 'download' | 'cli';

/**
 * Why a login session or a credential was revoked. Stored as text; shown to
 * the person on the Sessions page and to admins.
 */
export type RevokeReason =
  | 'sign_out'
  | 'revoked_by_user'
  | 'revoked_by_admin'
  /** The credential's own OAuth client revoked it (RFC 7009: POST /oidc/revoke, e.g. kubelogin on logout). */
  | 'revoked_by_client'
  | 'refresh_token_reuse'
  | 'authorization_code_reuse'
  | 'offboarded'
  | 'restored';

export interface Family {
  id: string;
  login_session_id: string;
  user_id: string;
  cluster: string;
  client_id: string;
  origin: CredentialOrigin;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  /** Generation of the newest refresh token (the head). */
  generation: number;
  revoked_at: number | null;
  revoke_reason: string | null;
}

export interface RefreshTokenRow {
  hash: string;
  family_id: string;
  generation: number;
  created_at: number;
  used_at: number | null;
}

/** Everything the token endpoint needs to decide on one refresh, read in one query. */
export interface RefreshContext {
  token: RefreshTokenRow;
  family: Family;
  session: LoginSession;
  user: User;
}

export interface SigningKeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  /** When it starts signing; published in the JWKS from created_at on (see signing.publish_ahead). */
  activates_at: number;
  /** When it stopped signing: its successor's activates_at (null while no successor has signed). */
  retired_at: number | null;
  /** When it leaves the JWKS: after every token it signed has expired. */
  expires_at: number | null;
  /** Withdrawn (compromised): out of the JWKS at once, never signs again. */
  revoked_at: number | null;
}

/** Every audit event kind, as a runtime list (the admin command validates `--kind` against it). */
export const AUDIT_KINDS = [
  'session.login',
  'session.login_failed',
  'session.logout',
  'session.revoked',
  'token.issued',
  'token.refreshed',
  'token.refresh_replayed',
  'token.refresh_denied',
  'token.reuse_detected',
  'device.approved',
  'device.denied',
  'family.revoked',
  'key.created',
  'key.published',
  'key.rotated',
  'key.revoked',
  'store.restored',
  'user.offboarded',
  'mfa.enrolled',
  'mfa.removed',
  'mfa.verified',
  'mfa.failed',
  'mfa.recovery_used',
  'mfa.recovery_regenerated',
  'mfa.reset',
  /** An upstream re-check answered (active, gone, not_supported): details {upstream, result, groups_added, groups_removed, reason}. */
  'user.rechecked',
  /** An upstream re-check got no answer: details {upstream, result: 'unavailable', reason, decision: 'kept' | 'refused'}. */
  'user.recheck_failed',
  /** An admin exported the audit trail from the console: details {by, format, filters, events, truncated}. */
  'admin.audit_exported',
] as const;

export type AuditKind = (typeof AUDIT_KINDS)[number];

export interface AuditEvent {
  id: string;
  at: number;
  kind: AuditKind;
  user_id: string | null;
  username: string | null;
  cluster: string | null;
  family_id: string | null;
  session_id: string | null;
  client_ip: string | null;
  request_id: string | null;
  /** Free-form facts; never a token, secret or password. */
  details: Record<string, unknown>;
}

/** Store.listAudit's filter: every field given must hold. Times are epoch ms, `since` inclusive, `until` exclusive. */
export interface AuditFilter {
  limit: number;
  userId?: string;
  kind?: AuditKind;
  familyId?: string;
  username?: string;
  cluster?: string;
  since?: number;
  until?: number;
  /** An event id: only events older than it (the id is time-ordered), for the next page. */
  before?: string;
}

export type AuditInput = Omit<AuditEvent, 'id' | 'at' | 'details' | keyof AuditOptional> &
  Partial<AuditOptional> & { details?: Record<string, unknown> };
type AuditOptional = Pick<
  AuditEvent,
  'user_id' | 'username' | 'cluster' | 'family_id' | 'session_id' | 'client_ip' | 'request_id'
>;

export interface NewFamily {
  id: string;
  login_session_id: string;
  user_id: string;
  cluster: string;
  client_id: string;
  origin: CredentialOrigin;
  expires_at: number;
  first_token_hash: string;
}

export type RotateResult = 'rotated' | 'already_used';

/** Which key Store.addSigningKeyIfNeeded adds: one to sign now (retiring the others), or the next one. */
export type SigningKeyNeed = { kind: 'first'; retireExpiresAt: number } | { kind: 'next' };

/** What an upstream re-check found, as the store records it (Store.recordRecheck). */
export type RecheckRecord =
  /**
   * The upstream confirmed the person: the profile (username, email, name,
   * groups) is replaced, checked_at = now, failing cleared. `recheckState`:
   * a new sealed state (null clears it); omitted keeps the stored one.
   */
  | { status: 'active'; profile: Pick<UserProfile, 'username' | 'email' | 'name' | 'groups'>; recheckState?: string | null }
  /** The upstream answered but cannot say more (not_supported): checked_at = now, failing cleared. */
  | { status: 'checked' }
  /** The upstream did not answer: check_failing_since = now unless already set; nothing else changes. */
  | { status: 'unavailable' };

/** What one pruning chunk may delete: up to `limit` rows of each kind. */
export interface PruneOptions {
  now: number;
  /** Audit events, and credentials and sign-ins that ended, before this time are deleted. */
  retainAfter: number;
  limit: number;
}

/** Rows deleted by one pruning chunk. */
export interface PruneCounts {
  /** Refresh tokens of credentials that ended (revoked or expired). */
  tokens: number;
  families: number;
  sessions: number;
  audit: number;
  /** One-time records past their expiry (lib/store/types.ts putEphemeral). */
  ephemeral: number;
}

/** What a restore reset revoked. */
export interface RestoreCounts {
  sessions_revoked: number;
  families_revoked: number;
  keys_withdrawn: number;
}

export interface Store {
  /** Applies pending migrations; safe to call on every start and from several processes. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Cheap round trip for health checks. */
  ping(): Promise<void>;
  /** Proves the store can commit a write now (readiness); throws StoreUnavailableError otherwise. */
  probeWrite(now: number): Promise<void>;

  /**
   * At sign-in: inserts or updates the person by (upstream, subject), keeping
   * their id. A sign-in is a fresh look upstream: checked_at = now, failing
   * cleared. `recheckState` (sealed by the caller) replaces the stored one
   * when given (null clears it); omitted keeps it.
   */
  upsertUser(profile: UserProfile, now: number, opts?: { recheckState?: string | null }): Promise<User>;
  getUser(id: string): Promise<User | undefined>;
  /** Everyone with this (final, prefixed) username, whatever their upstream. */
  findUsersByUsername(username: string): Promise<User[]>;
  /**
   * Records one upstream re-check of a person and its audit event in one
   * transaction; returns the person as now stored (undefined: no such user).
   */
  recordRecheck(userId: string, result: RecheckRecord, now: number, audit: AuditInput): Promise<User | undefined>;
  /** The sealed re-check state of a person (null: none, or no such user). Kept out of User: it is read only when a re-check runs. */
  getRecheckState(userId: string): Promise<string | null>;

  createLoginSession(s: Omit<LoginSession, 'created_at' | 'revoked_at' | 'revoke_reason' | 'last_seen_at'>, now: number): Promise<LoginSession>;
  getLoginSession(id: string): Promise<{ session: LoginSession; user: User } | undefined>;
  /** Records browser activity on a session (the web idle timeout counts from here). */
  touchLoginSession(id: string, now: number): Promise<void>;
  listLoginSessions(filter: { userId?: string; activeAt?: number }): Promise<LoginSession[]>;
  /** Revokes the session and every family minted from it, atomically, with an audit event. */
  revokeLoginSession(id: string, reason: RevokeReason, now: number, audit: AuditInput): Promise<boolean>;

  /** Creates a family and its generation-0 refresh token, with an audit event, in one transaction. */
  createFamily(f: NewFamily, now: number, audit: AuditInput): Promise<Family>;
  getFamily(id: string): Promise<Family | undefined>;
  listFamilies(filter: { loginSessionId?: string; userId?: string }): Promise<Family[]>;
  findRefreshContext(tokenHash: string): Promise<RefreshContext | undefined>;
  /**
   * Families that could still refresh: not revoked, not expired at `now`, used at or after `usedSince`
   * (now minus the idle timeout). One COUNT, for the metrics gauge (lib/metrics).
   */
  countActiveFamilies(now: number, usedSince: number): Promise<number>;
  /**
   * Marks `tokenHash` used and stores its successor as the family's new head,
   * only if it was still the head (unused) of a family not revoked: a
   * compare-and-set, so two racing refreshes of one token cannot both rotate,
   * and a family revoked after the caller read it does not rotate either
   * (`already_used`: the caller reads again).
   */
  rotateRefreshToken(
    r: { tokenHash: string; successorHash: string; familyId: string; generation: number },
    now: number,
    audit: AuditInput,
  ): Promise<RotateResult>;
  /** Revokes one family (idempotent: an already revoked family keeps its first reason). */
  revokeFamily(id: string, reason: RevokeReason, now: number, audit: AuditInput): Promise<boolean>;

  /** Every signing key row, newest first. `private_jwk` is as stored (encrypted: lib/crypto/kek.ts). */
  listSigningKeys(): Promise<SigningKeyRow[]>;
  /**
   * Inserts `next`, signing from now, and retires every other unretired key
   * (retired_at = now, expires_at = retireExpiresAt), atomically; audits `key.created`.
   */
  activateSigningKey(next: SigningKeyRow, retireExpiresAt: number, now: number): Promise<void>;
  /** Inserts `next`, published now and signing from its `activates_at`; audits `key.published`. */
  scheduleSigningKey(next: SigningKeyRow, now: number): Promise<void>;
  /**
   * The key schedule's writes that must happen once, however many replicas
   * decide them at the same moment: under a lock every process of this
   * database takes (PostgreSQL: a transaction-scoped advisory lock; SQLite:
   * the one write transaction at a time), checks that the store still needs
   * a key, and only then writes `next`, with its audit event:
   * - `first`: no key can sign at `now` (first start on an empty database, or
   *   every key withdrawn): as activateSigningKey;
   * - `next`: no key of `next.alg` is published to start signing after `now`:
   *   as scheduleSigningKey.
   * False, writing nothing, when the key is no longer needed (another
   * process made it first): the caller reads the keys again.
   */
  addSigningKeyIfNeeded(next: SigningKeyRow, now: number, need: SigningKeyNeed): Promise<boolean>;
  /**
   * Records that `successor` started signing at its `activates_at`: every
   * unretired, unrevoked key that activated before it gets retired_at =
   * that time and `expiresAt`. Idempotent (the first caller audits `key.rotated`);
   * returns the kids it retired.
   */
  retireSigningKeysBefore(successor: { kid: string; activates_at: number }, expiresAt: number, now: number): Promise<string[]>;
  /** Withdraws a key for good (revoked_at = now), with an audit event; false if unknown or already revoked. */
  /**
   * Withdraws a key for good; with `replacement`, activates that key in the
   * same transaction (the store is never without a signing key in between).
   */
  revokeSigningKey(kid: string, now: number, audit: AuditInput, replacement?: { next: SigningKeyRow; retireExpiresAt: number }): Promise<boolean>;
  /** Deletes retired keys past their expiry, and revoked keys. */
  deleteExpiredSigningKeys(now: number): Promise<number>;
  /** Compare-and-set of a key's stored private half (encrypting a row written in clear). */
  replaceSigningKeyPrivate(kid: string, expected: string, next: string): Promise<boolean>;

  /** Returns the named server secret, creating it with `generate()` if absent (race-safe across replicas). */
  getOrCreateSecret(name: string, generate: () => string, now: number): Promise<string>;
  /** Compare-and-set of a server secret's stored value (encrypting a row written in clear). */
  replaceSecret(name: string, expected: string, next: string): Promise<boolean>;

  /**
   * Short-lived one-time records every replica shares, by namespace and key:
   * SAML request ids and the assertion replay cache, sign-in tickets,
   * authorization and device codes. Values are opaque strings (callers seal
   * anything secret); an expired record is as good as absent.
   *
   * putEphemeral inserts unless a live record holds the key (false then):
   * the building block of replay caches and single-use codes.
   */
  putEphemeral(ns: string, key: string, value: string, expiresAt: number, now: number): Promise<boolean>;
  getEphemeral(ns: string, key: string, now: number): Promise<string | undefined>;
  /** Deletes and returns a live record, atomically: of two concurrent takes, one gets it. */
  takeEphemeral(ns: string, key: string, now: number): Promise<string | undefined>;
  /** Compare-and-set on a live record's value (e.g. a device code moving from pending to approved). */
  replaceEphemeral(ns: string, key: string, expected: string, next: string, now: number): Promise<boolean>;
  /** Every live record of a namespace (shared counters: one record per event, e.g. sign-in failures). */
  listEphemeral(ns: string, now: number): Promise<Array<{ key: string; value: string; expires_at: number }>>;
  /** Deletes every record of a namespace; returns how many. */
  deleteEphemeralNamespace(ns: string): Promise<number>;

  /** Second factors (lib/mfa/). Every change is written with its audit event in one transaction. */
  listMfaFactors(userId: string): Promise<MfaFactor[]>;
  getMfaFactorByCredentialId(credentialId: string): Promise<MfaFactor | undefined>;
  addMfaFactor(f: Pick<MfaFactor, 'id' | 'user_id' | 'kind' | 'name' | 'data' | 'credential_id'> & { confirmed: boolean; counter?: number | null }, now: number, audit?: AuditInput): Promise<MfaFactor>;
  confirmMfaFactor(userId: string, id: string, counter: number, now: number, audit: AuditInput): Promise<boolean>;
  removeMfaFactor(userId: string, id: string, now: number, audit: AuditInput): Promise<boolean>;
  /** Moves a factor's counter strictly forward and records its use; false when it is not ahead (a replay). */
  advanceMfaCounter(id: string, counter: number, now: number): Promise<boolean>;
  /** Records a use without a counter (authenticators whose signature counter stays 0). */
  touchMfaFactor(id: string, now: number): Promise<void>;
  /** Replaces a person's recovery codes (stored hashed) with a fresh set. */
  replaceRecoveryCodes(userId: string, hashes: string[], now: number, audit: AuditInput): Promise<void>;
  /** Spends one unused recovery code, atomically: of two concurrent uses, one wins. */
  useRecoveryCode(userId: string, hash: string, now: number, audit: AuditInput): Promise<boolean>;
  countRecoveryCodes(userId: string): Promise<{ total: number; unused: number }>;
  /** An admin's reset: every factor and recovery code of the person removed. */
  resetMfa(userId: string, now: number, audit: AuditInput): Promise<{ factors: number; recovery_codes: number }>;
  /** A second factor was verified on this login session: its methods (amr) become `amr`. */
  elevateLoginSession(id: string, amr: string[], now: number, audit: AuditInput): Promise<boolean>;

  appendAudit(event: AuditInput, now: number): Promise<void>;
  /** Newest first. Every filter given must hold; `before` pages on: events older than that event id. */
  listAudit(filter: AuditFilter): Promise<AuditEvent[]>;

  /**
   * After a restore: revokes every login session and family (reason
   * 'restored'), withdraws every signing key, and writes one
   * `store.restored` audit event carrying `details` and the counts.
   */
  markRestored(now: number, details: Record<string, unknown>): Promise<RestoreCounts>;
  /**
   * One chunk of background pruning, each kind in its own small transaction:
   * refresh tokens of ended families (never a live family's spent tokens,
   * which detect reuse), and audit events, families and sessions that ended
   * before `retainAfter`. Call again while any count reaches `limit`.
   */
  prune(opts: PruneOptions): Promise<PruneCounts>;
}
