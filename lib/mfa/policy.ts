/**
 * Who must show a second factor, and whether a login session has. The
 * session's `amr` (RFC 8176) is the record: it holds `mfa` once a second
 * factor was verified here, or once the upstream proved one (its id_token
 * `amr`/`acr` or SAML AuthnContextClassRef matched the values the upstream's
 * config trusts). Every id_token minted from the session repeats it.
 */
export interface MfaPolicy {
  /** A second factor for everyone who signs in. */
  everyone: boolean;
  /** A second factor for members of these groups (final names, as in tokens). */
  groups: readonly string[];
}

export function mfaRequired(policy: MfaPolicy, groups: readonly string[], cluster?: { require_mfa?: boolean }): boolean {
  if (policy.everyone || cluster?.require_mfa) return true;
  return groups.some((g) => policy.groups.includes(g));
}

export function sessionHasMfa(session: { amr: readonly string[] }): boolean {
  return session.amr.includes('mfa');
}

/** Whether the upstream's own answer shows a second factor, per the values its config trusts. */
export function upstreamProvedMfa(trust: { mfa_amr_values: readonly string[]; mfa_acr_values: readonly string[] }, amr: readonly string[], acr: string | undefined): boolean {
  return amr.some((v) => trust.mfa_amr_values.includes(v)) || (acr !== undefined && trust.mfa_acr_values.includes(acr));
}

/** The methods a session records after a sign-in: the upstream's, plus `mfa` when it proved a second factor. */
export function sessionAmrAtSignIn(trust: { mfa_amr_values: readonly string[]; mfa_acr_values: readonly string[] }, amr: readonly string[], acr: string | undefined): string[] {
  return [...new Set(upstreamProvedMfa(trust, amr, acr) ? [...amr, 'mfa'] : amr)];
}

/** After a second factor here: `otp` (TOTP, recovery code), `hwk`/`swk` (passkeys), and `mfa`. */
export function amrAfterSecondFactor(amr: readonly string[], method: 'otp' | 'hwk' | 'swk'): string[] {
  return [...new Set([...amr, method, 'mfa'])];
}

/**
 * The id_token's `acr`: `aal2` once two factors are proven (here or
 * upstream), `aal1` otherwise, in the spirit of NIST SP 800-63B's levels.
 */
export function acrOf(amr: readonly string[]): 'aal1' | 'aal2' {
  return amr.includes('mfa') ? 'aal2' : 'aal1';
}

/**
 * Where a login session stands:
 *   - 'complete': the first factor, and a second one where the policy asks for it;
 *   - 'second_factor': a second factor is required and enrolled, not yet shown;
 *   - 'enrollment': a second factor is required and none is enrolled: enroll first.
 * Only a complete session sees clusters, mints, or acts on the sessions page.
 */
export type LoginStage = 'complete' | 'second_factor' | 'enrollment';

export function loginStage(input: { required: boolean; hasMfa: boolean; enrolledFactors: number }): LoginStage {
  if (!input.required || input.hasMfa) return 'complete';
  return input.enrolledFactors > 0 ? 'second_factor' : 'enrollment';
}
