import { randomUUID } from 'node:crypto';
import type { KeyEncryptionKey } from '../crypto/kek';
import { rowId } from '../crypto/kek';
import type { SignInThrottle } from '../auth/rate-limit';
import type { AuditInput, LoginSession, MfaFactor, Store, User } from '../store/types';
import type { Logger } from '../util/log';
import { amrAfterSecondFactor, loginStage, mfaRequired, sessionHasMfa, type LoginStage, type MfaPolicy } from './policy';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './recovery';
import { matchTotp, newTotpSecret, normalizeTotpInput, totpQrSvg, totpUri } from './totp';

/**
 * Second factors, as the portal pages and the admin command use them. Every
 * attempt is throttled per person and per address (the password sign-in
 * throttle, on its own instance), every outcome audited; a verified factor
 * elevates the login session, so every id_token minted from it after says
 * `mfa` in its amr.
 */
export interface MfaDeps {
  store: Store;
  now: () => number;
  log: Logger;
  kek: KeyEncryptionKey;
  throttle: SignInThrottle;
  policy: MfaPolicy;
  /** The name authenticator apps show. */
  totpIssuer: string;
}

export interface Meta {
  clientIp: string | null;
}

/** An unconfirmed TOTP enrollment is offered again for this long, then a new secret is made. */
const PENDING_TOTP_MS = 15 * 60_000;

export async function confirmedFactors(store: Store, userId: string): Promise<MfaFactor[]> {
  return (await store.listMfaFactors(userId)).filter((f) => f.confirmed_at !== null);
}

/** Where this session stands for the person's current groups, and optionally a cluster that asks for MFA. */
export async function stageOf(deps: Pick<MfaDeps, 'store' | 'policy'>, session: LoginSession, user: User, cluster?: { require_mfa?: boolean }): Promise<LoginStage> {
  const required = mfaRequired(deps.policy, user.groups, cluster);
  const hasMfa = sessionHasMfa(session);
  // The store is read only when it matters: most page views need no factor list.
  if (!required || hasMfa) return 'complete';
  return loginStage({ required, hasMfa, enrolledFactors: (await confirmedFactors(deps.store, user.id)).length });
}

export interface TotpEnrollment {
  factorId: string;
  secret: string;
  uri: string;
  qrSvg: string;
}

/** The TOTP enrollment in progress for this person (made on first call, reused for a while). */
export async function pendingTotpEnrollment(deps: MfaDeps, user: User): Promise<TotpEnrollment> {
  const now = deps.now();
  const pending = (await deps.store.listMfaFactors(user.id)).find((f) => f.kind === 'totp' && f.confirmed_at === null && now - f.created_at < PENDING_TOTP_MS);
  let factorId: string;
  let secret: string;
  if (pending) {
    factorId = pending.id;
    secret = await deps.kek.open(rowId.mfaFactor(pending.id), pending.data);
  } else {
    factorId = randomUUID();
    secret = newTotpSecret();
    const data = await deps.kek.seal(rowId.mfaFactor(factorId), secret);
    await deps.store.addMfaFactor({ id: factorId, user_id: user.id, kind: 'totp', name: 'Authenticator app', data, credential_id: null, confirmed: false }, now);
  }
  const uri = totpUri(secret, deps.totpIssuer, user.username);
  return { factorId, secret, uri, qrSvg: await totpQrSvg(uri) };
}

export type MfaResult =
  | { ok: true; method: 'totp' | 'recovery_code' | 'webauthn'; recoveryCodes?: string[] }
  | { ok: false; reason: 'wrong_code' | 'rate_limited' | 'not_found'; retryAfterSeconds?: number };

export function audit(kind: AuditInput['kind'], user: User, session: LoginSession | null, meta: Meta, details: Record<string, unknown>): AuditInput {
  return { kind, user_id: user.id, username: user.username, session_id: session?.id ?? null, client_ip: meta.clientIp, details };
}

/** Throttle first: a refused attempt never tests a guess. */
export async function throttled(deps: MfaDeps, user: User, session: LoginSession | null, meta: Meta): Promise<MfaResult | undefined> {
  await deps.throttle.load(`mfa:${user.id}`, meta.clientIp);
  const decision = deps.throttle.attempt(`mfa:${user.id}`, meta.clientIp);
  if (decision.allowed) return undefined;
  if (decision.audit) {
    await deps.store.appendAudit(audit('mfa.failed', user, session, meta, { reason: 'rate_limited', scope: decision.scope, suppressed: decision.suppressed }), deps.now());
    deps.log.warn('second-factor attempts throttled', { user: user.username, client_ip: meta.clientIp, scope: decision.scope });
  }
  return { ok: false, reason: 'rate_limited', retryAfterSeconds: Math.ceil(decision.retryAfterMs / 1000) };
}

export async function failed(deps: MfaDeps, user: User, session: LoginSession | null, meta: Meta, details: Record<string, unknown>): Promise<MfaResult> {
  await deps.throttle.failed(`mfa:${user.id}`, meta.clientIp);
  await deps.store.appendAudit(audit('mfa.failed', user, session, meta, details), deps.now());
  deps.log.info('second factor refused', { user: user.username, client_ip: meta.clientIp, ...details });
  return { ok: false, reason: 'wrong_code' };
}

export async function elevate(deps: MfaDeps, user: User, session: LoginSession, meta: Meta, method: 'otp' | 'hwk' | 'swk', details: Record<string, unknown>): Promise<void> {
  const amr = amrAfterSecondFactor(session.amr, method);
  await deps.store.elevateLoginSession(session.id, amr, deps.now(), audit('mfa.verified', user, session, meta, { ...details, amr }));
  await deps.throttle.succeeded(`mfa:${user.id}`, meta.clientIp);
  deps.log.info('second factor verified', { user: user.username, client_ip: meta.clientIp, ...details });
}

/** A person who has no recovery codes gets ten, shown once (after their first factor is enrolled). */
export async function issueRecoveryCodes(deps: MfaDeps, user: User, session: LoginSession | null, meta: Meta, reason: string): Promise<string[]> {
  const codes = newRecoveryCodes();
  await deps.store.replaceRecoveryCodes(user.id, codes.map(hashRecoveryCode), deps.now(), audit('mfa.recovery_regenerated', user, session, meta, { reason, count: codes.length }));
  return codes;
}

export async function regenerateRecoveryCodes(deps: MfaDeps, user: User, session: LoginSession, meta: Meta): Promise<string[]> {
  return issueRecoveryCodes(deps, user, session, meta, 'regenerated');
}

/**
 * Confirms the pending TOTP enrollment with a first code: the factor counts
 * from now, the code's step is spent, and the session is elevated (it just
 * proved the factor). The first factor a person enrolls comes with recovery codes.
 */
export async function confirmTotpEnrollment(deps: MfaDeps, user: User, session: LoginSession, input: { factorId: string; code: string; name?: string }, meta: Meta): Promise<MfaResult> {
  const limited = await throttled(deps, user, session, meta);
  if (limited) return limited;
  const factor = (await deps.store.listMfaFactors(user.id)).find((f) => f.id === input.factorId && f.kind === 'totp' && f.confirmed_at === null);
  if (!factor) return { ok: false, reason: 'not_found' };
  const hadFactors = (await confirmedFactors(deps.store, user.id)).length > 0;
  // A first factor may be enrolled by anyone signed in; another one only by a session that has shown one
  // (a stolen password alone must not add an authenticator).
  if (hadFactors && !sessionHasMfa(session)) return { ok: false, reason: 'not_found' };
  const secret = await deps.kek.open(rowId.mfaFactor(factor.id), factor.data);
  const step = matchTotp(secret, input.code, deps.now());
  if (step === undefined) return failed(deps, user, session, meta, { method: 'totp', reason: 'wrong_code', enrollment: true });
  const confirmed = await deps.store.confirmMfaFactor(user.id, factor.id, step, deps.now(), audit('mfa.enrolled', user, session, meta, { kind: 'totp', factor: factor.id }));
  if (!confirmed) return { ok: false, reason: 'not_found' };
  await elevate(deps, user, session, meta, 'otp', { method: 'totp', factor: factor.id, enrollment: true });
  const { total } = await deps.store.countRecoveryCodes(user.id);
  const recoveryCodes = !hadFactors || total === 0 ? await issueRecoveryCodes(deps, user, session, meta, 'first_factor') : undefined;
  return { ok: true, method: 'totp', recoveryCodes };
}

/**
 * A code typed at the second-factor prompt: a TOTP code of any enrolled
 * authenticator app (each step once), else a recovery code (each once).
 */
export async function verifyCode(deps: MfaDeps, user: User, session: LoginSession, code: string, meta: Meta): Promise<MfaResult> {
  const limited = await throttled(deps, user, session, meta);
  if (limited) return limited;
  if (normalizeTotpInput(code)) {
    for (const f of (await confirmedFactors(deps.store, user.id)).filter((f) => f.kind === 'totp')) {
      const step = matchTotp(await deps.kek.open(rowId.mfaFactor(f.id), f.data), code, deps.now());
      if (step === undefined) continue;
      if (!(await deps.store.advanceMfaCounter(f.id, step, deps.now()))) {
        return failed(deps, user, session, meta, { method: 'totp', reason: 'replayed', factor: f.id });
      }
      await elevate(deps, user, session, meta, 'otp', { method: 'totp', factor: f.id });
      return { ok: true, method: 'totp' };
    }
    return failed(deps, user, session, meta, { method: 'totp', reason: 'wrong_code' });
  }
  if (normalizeRecoveryCode(code)) {
    const used = await deps.store.useRecoveryCode(user.id, hashRecoveryCode(code), deps.now(), audit('mfa.recovery_used', user, session, meta, {}));
    if (!used) return failed(deps, user, session, meta, { method: 'recovery_code', reason: 'wrong_code' });
    const { unused } = await deps.store.countRecoveryCodes(user.id);
    await elevate(deps, user, session, meta, 'otp', { method: 'recovery_code', recovery_codes_left: unused });
    return { ok: true, method: 'recovery_code' };
  }
  return failed(deps, user, session, meta, { reason: 'malformed' });
}

/** The person removes one of their factors (from a complete session only: the page checks). */
export async function removeFactor(deps: MfaDeps, user: User, session: LoginSession, factorId: string, meta: Meta): Promise<boolean> {
  const factor = (await deps.store.listMfaFactors(user.id)).find((f) => f.id === factorId);
  if (!factor) return false;
  return deps.store.removeMfaFactor(user.id, factorId, deps.now(), audit('mfa.removed', user, session, meta, { kind: factor.kind, name: factor.name, factor: factor.id }));
}
