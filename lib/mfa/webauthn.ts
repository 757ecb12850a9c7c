import { randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { z } from 'zod';
import type { LoginSession, MfaFactor, User } from '../store/types';
import { sessionHasMfa } from './policy';
import { audit, confirmedFactors, elevate, failed, issueRecoveryCodes, throttled, type MfaDeps, type Meta } from './service';

/**
 * Passkeys (WebAuthn Level 3) as a second factor, with @simplewebauthn/server.
 *
 * - The relying party is `issuer.url`: its host is the RP id, its origin the
 *   only origin accepted, so a passkey made for one Kubegate cannot be used at
 *   another, nor through a look-alike site.
 * - User verification is required (PIN or biometric on the authenticator):
 *   the passkey alone is then "something you have" plus "something you are /
 *   know", as a second factor should be.
 * - Challenges live in the store's ephemeral records (shared by replicas),
 *   keyed by login session and purpose, five minutes, taken once: a response
 *   is good for one verification, on the session that asked for it.
 * - Signature counters (§6.1.1) must move forward when either side is
 *   non-zero; a counter that stays or goes back means two copies of one key
 *   (a cloned authenticator): refused and audited. The store moves the counter
 *   atomically, so of two concurrent uses of one response only one counts.
 * - amr (RFC 8176): `hwk` (proof of a hardware-secured key) only for a
 *   device-bound credential, i.e. one whose authenticator says it is NOT
 *   backup eligible (BE flag clear): such a key never leaves that
 *   authenticator. A backup-eligible credential (synced passkeys: iCloud
 *   Keychain, Google Password Manager, 1Password) is `swk`, whether or not
 *   it has been backed up yet (BS flag): BE cannot change for the life of a
 *   credential, while BS can flip at any time, so deciding on BE keeps an API
 *   server rule that demands `hwk` from ever being met by a key that may be
 *   copied to other devices. Both flags are read from the signed
 *   authenticator data of each sign-in and recorded in the audit event.
 */

export interface RelyingParty {
  /** The RP id: issuer.url's host name (a domain; browsers refuse IP addresses). */
  id: string;
  name: string;
  /** issuer.url's origin: the only origin a response may come from. */
  origin: string;
}

export function relyingPartyOf(config: { issuer: { url: string }; branding: { title: string } }): RelyingParty {
  const url = new URL(config.issuer.url);
  return { id: url.hostname, name: config.branding.title, origin: url.origin };
}

export interface PasskeyDeps extends MfaDeps {
  rp: RelyingParty;
}

/** The public part of a credential, as kept in the factor's `data` (JSON): nothing secret. */
export interface PasskeyData {
  /** COSE public key, base64url. */
  public_key: string;
  transports: string[];
  /** BE at registration: fixed for the credential's life (WebAuthn §6.1.3). */
  backup_eligible: boolean;
  /** BS at registration (may change later; each use's value is in the audit). */
  backed_up: boolean;
  aaguid: string;
}

export function passkeyDataOf(factor: Pick<MfaFactor, 'data'>): PasskeyData {
  return JSON.parse(factor.data) as PasskeyData;
}

/** What the security page shows about a passkey. */
export function passkeyKind(data: Pick<PasskeyData, 'backup_eligible' | 'backed_up'>): 'synced' | 'device-bound' {
  return data.backup_eligible || data.backed_up ? 'synced' : 'device-bound';
}

export const CHALLENGE_NS = 'webauthn.challenge';
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** How long the browser offers the prompt (the challenge outlives it a little). */
const PROMPT_TIMEOUT_MS = 3 * 60_000;

export type PasskeyPurpose = 'register' | 'authenticate';

const challengeKey = (session: LoginSession, purpose: PasskeyPurpose) => `${session.id}:${purpose}`;

/** A fresh challenge replaces any earlier one for the same session and purpose (a reloaded page, a retry). */
async function keepChallenge(deps: PasskeyDeps, session: LoginSession, purpose: PasskeyPurpose, challenge: string): Promise<void> {
  const now = deps.now();
  const key = challengeKey(session, purpose);
  await deps.store.takeEphemeral(CHALLENGE_NS, key, now);
  if (!(await deps.store.putEphemeral(CHALLENGE_NS, key, challenge, now + CHALLENGE_TTL_MS, now))) {
    // Another request of this session stored one between the two calls: the later prompt wins either way.
    throw new Error('a passkey challenge for this session is being created concurrently');
  }
}

async function passkeysOf(deps: PasskeyDeps, user: User): Promise<MfaFactor[]> {
  return (await confirmedFactors(deps.store, user.id)).filter((f) => f.kind === 'webauthn' && f.credential_id !== null);
}

const descriptor = (f: MfaFactor) => ({ id: f.credential_id!, transports: passkeyDataOf(f).transports });

/** Whether this session may add a passkey: a first factor always; another one only after showing an existing one. */
export async function mayEnroll(deps: Pick<MfaDeps, 'store'>, user: User, session: LoginSession): Promise<boolean> {
  return sessionHasMfa(session) || (await confirmedFactors(deps.store, user.id)).length === 0;
}

export type PasskeyRefusal =
  /** The response did not verify (origin, RP id, UV, signature, challenge mismatch, unknown or foreign credential, clone). */
  | 'refused'
  /** No live challenge for this session: expired, already used, or never asked for. */
  | 'no_challenge'
  | 'rate_limited'
  /** Adding a factor needs a session that has shown one already. */
  | 'not_allowed'
  | 'already_registered'
  | 'no_passkeys';

export type PasskeyResult =
  | { ok: true; method: 'hwk' | 'swk'; factorId: string; recoveryCodes?: string[] }
  | { ok: false; reason: PasskeyRefusal; retryAfterSeconds?: number };

export async function registrationOptions(deps: PasskeyDeps, user: User, session: LoginSession): Promise<PublicKeyCredentialCreationOptionsJSON | undefined> {
  if (!(await mayEnroll(deps, user, session))) return undefined;
  const options = await generateRegistrationOptions({
    rpName: deps.rp.name,
    rpID: deps.rp.id,
    userName: user.username,
    userDisplayName: user.name ?? user.username,
    // A stable, opaque user handle: an authenticator replaces its own older credential for this person.
    userID: new TextEncoder().encode(user.id),
    timeout: PROMPT_TIMEOUT_MS,
    attestationType: 'none',
    excludeCredentials: (await passkeysOf(deps, user)).map(descriptor),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
  });
  await keepChallenge(deps, session, 'register', options.challenge);
  return options;
}

export async function authenticationOptions(deps: PasskeyDeps, user: User, session: LoginSession): Promise<PublicKeyCredentialRequestOptionsJSON | undefined> {
  const passkeys = await passkeysOf(deps, user);
  if (passkeys.length === 0) return undefined;
  const options = await generateAuthenticationOptions({
    rpID: deps.rp.id,
    allowCredentials: passkeys.map(descriptor),
    userVerification: 'required',
    timeout: PROMPT_TIMEOUT_MS,
  });
  await keepChallenge(deps, session, 'authenticate', options.challenge);
  return options;
}

const b64url = z.string().max(16_384).regex(/^[A-Za-z0-9_-]*$/, 'must be base64url');
const transports = z.array(z.enum(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])).max(8);
const common = {
  id: b64url.min(1).max(1365),
  rawId: b64url.min(1).max(1365),
  type: z.literal('public-key'),
  clientExtensionResults: z.looseObject({}).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
};

/**
 * What @simplewebauthn/browser's startRegistration sends, checked before the
 * library parses it. Loose objects: browsers and the library add fields over
 * time (publicKeyAlgorithm, extension outputs); the ones we rely on are checked.
 */
export const RegistrationResponseSchema = z.looseObject({
  ...common,
  response: z.looseObject({
    clientDataJSON: b64url,
    attestationObject: b64url,
    transports: transports.optional(),
  }),
});

/** What startAuthentication sends. */
export const AuthenticationResponseSchema = z.looseObject({
  ...common,
  response: z.looseObject({
    clientDataJSON: b64url,
    authenticatorData: b64url,
    signature: b64url,
    userHandle: b64url.optional(),
  }),
});

/** The person's own name for a passkey, as typed. */
export const PasskeyNameSchema = z.string().trim().min(1, 'give the passkey a name').max(60, 'at most 60 characters');

const why = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 200);

/**
 * Registers a new passkey from the browser's answer to `registrationOptions`.
 * The factor counts at once (the ceremony proved possession with user
 * verification); the session is elevated as by any second factor; the
 * person's first factor comes with recovery codes.
 */
export async function verifyRegistration(
  deps: PasskeyDeps,
  user: User,
  session: LoginSession,
  input: { response: z.infer<typeof RegistrationResponseSchema>; name: string },
  meta: Meta,
): Promise<PasskeyResult> {
  const limited = await throttled(deps, user, session, meta);
  if (limited) return { ok: false, reason: 'rate_limited', retryAfterSeconds: limited.ok ? undefined : limited.retryAfterSeconds };
  if (!(await mayEnroll(deps, user, session))) return { ok: false, reason: 'not_allowed' };
  const challenge = await deps.store.takeEphemeral(CHALLENGE_NS, challengeKey(session, 'register'), deps.now());
  if (!challenge) return { ok: false, reason: 'no_challenge' };
  let info;
  try {
    const verified = await verifyRegistrationResponse({
      response: input.response as RegistrationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: deps.rp.origin,
      expectedRPID: deps.rp.id,
      requireUserVerification: true,
    });
    if (!verified.verified) throw new Error('registration not verified');
    info = verified.registrationInfo;
  } catch (err) {
    await failed(deps, user, session, meta, { method: 'webauthn', reason: 'invalid_response', enrollment: true, detail: why(err) });
    return { ok: false, reason: 'refused' };
  }
  if (await deps.store.getMfaFactorByCredentialId(info.credential.id)) return { ok: false, reason: 'already_registered' };
  const data: PasskeyData = {
    public_key: isoBase64URL.fromBuffer(info.credential.publicKey),
    transports: info.credential.transports ?? [],
    backup_eligible: info.credentialDeviceType === 'multiDevice',
    backed_up: info.credentialBackedUp,
    aaguid: info.aaguid,
  };
  const hadFactors = (await confirmedFactors(deps.store, user.id)).length > 0;
  const factorId = randomUUID();
  const method = amrMethod(data.backup_eligible, data.backed_up);
  await deps.store.addMfaFactor(
    { id: factorId, user_id: user.id, kind: 'webauthn', name: input.name, data: JSON.stringify(data), credential_id: info.credential.id, confirmed: true, counter: info.credential.counter },
    deps.now(),
    audit('mfa.enrolled', user, session, meta, { kind: 'webauthn', factor: factorId, name: input.name, backup_eligible: data.backup_eligible, backed_up: data.backed_up, aaguid: data.aaguid }),
  );
  // The ceremony was a use of the passkey (as a TOTP factor's confirming code is).
  await deps.store.touchMfaFactor(factorId, deps.now());
  await elevate(deps, user, session, meta, method, { method: 'webauthn', factor: factorId, enrollment: true });
  const { total } = await deps.store.countRecoveryCodes(user.id);
  const recoveryCodes = !hadFactors || total === 0 ? await issueRecoveryCodes(deps, user, session, meta, 'first_factor') : undefined;
  return { ok: true, method, factorId, recoveryCodes };
}

/** `swk` for a backup-eligible (syncable) or backed-up credential, `hwk` for a device-bound one (see the module comment). */
export function amrMethod(backupEligible: boolean, backedUp: boolean): 'hwk' | 'swk' {
  return backupEligible || backedUp ? 'swk' : 'hwk';
}

/** The second-factor prompt answered with a passkey. */
export async function verifyAuthentication(
  deps: PasskeyDeps,
  user: User,
  session: LoginSession,
  response: z.infer<typeof AuthenticationResponseSchema>,
  meta: Meta,
): Promise<PasskeyResult> {
  const limited = await throttled(deps, user, session, meta);
  if (limited) return { ok: false, reason: 'rate_limited', retryAfterSeconds: limited.ok ? undefined : limited.retryAfterSeconds };
  // Taken before anything else: whatever happens next, this challenge is spent.
  const challenge = await deps.store.takeEphemeral(CHALLENGE_NS, challengeKey(session, 'authenticate'), deps.now());
  if (!challenge) return { ok: false, reason: 'no_challenge' };
  const factor = await deps.store.getMfaFactorByCredentialId(response.id);
  if (!factor || factor.user_id !== user.id || factor.kind !== 'webauthn' || factor.confirmed_at === null) {
    // Another person's passkey, or one removed since: the signature would prove nothing about this person.
    await failed(deps, user, session, meta, { method: 'webauthn', reason: 'unknown_credential' });
    return { ok: false, reason: 'refused' };
  }
  const checked = await checkAssertion(deps, factor, challenge, response);
  if (!checked.ok) {
    await failed(deps, user, session, meta, checked.details);
    if (checked.details.reason === 'cloned_authenticator') {
      deps.log.warn('passkey signature counter did not move forward: possibly a cloned authenticator', { user: user.username, ...checked.details });
    }
    return { ok: false, reason: 'refused' };
  }
  const { method, details } = checked;
  await elevate(deps, user, session, meta, method, details);
  return { ok: true, method, factorId: factor.id };
}

export type AssertionCheck =
  | { ok: true; method: 'hwk' | 'swk'; details: Record<string, unknown> }
  | { ok: false; details: Record<string, unknown> & { reason: 'invalid_response' | 'cloned_authenticator' } };

/**
 * Verifies an assertion made with `factor` over `challenge` (origin, RP id,
 * UV, signature), then moves its signature counter (or records the use).
 * Shared by the second-factor prompt and the passwordless sign-in.
 */
export async function checkAssertion(
  deps: Pick<PasskeyDeps, 'store' | 'now' | 'rp'>,
  factor: MfaFactor,
  challenge: string,
  response: z.infer<typeof AuthenticationResponseSchema>,
): Promise<AssertionCheck> {
  const data = passkeyDataOf(factor);
  const stored = factor.counter ?? 0;
  let info;
  try {
    const verified = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: deps.rp.origin,
      expectedRPID: deps.rp.id,
      requireUserVerification: true,
      // The counter is checked below, after the signature: only a verified response may be called a clone.
      credential: { id: factor.credential_id!, publicKey: isoBase64URL.toBuffer(data.public_key), counter: 0, transports: data.transports },
    });
    if (!verified.verified) throw new Error('signature did not verify');
    info = verified.authenticationInfo;
  } catch (err) {
    return { ok: false, details: { method: 'webauthn', reason: 'invalid_response', factor: factor.id, detail: why(err) } };
  }
  const counter = info.newCounter;
  const moved = counter > 0 || stored > 0 ? counter > stored && (await deps.store.advanceMfaCounter(factor.id, counter, deps.now())) : true;
  if (!moved) return { ok: false, details: { method: 'webauthn', reason: 'cloned_authenticator', factor: factor.id, stored_counter: stored, counter } };
  if (counter === 0) await deps.store.touchMfaFactor(factor.id, deps.now());
  const backupEligible = info.credentialDeviceType === 'multiDevice';
  const method = amrMethod(backupEligible, info.credentialBackedUp);
  return { ok: true, method, details: { method: 'webauthn', factor: factor.id, backup_eligible: backupEligible, backed_up: info.credentialBackedUp, counter } };
}
