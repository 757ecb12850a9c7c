import { describe, expect, it } from 'vitest';
import { acrOf, amrAfterSecondFactor, loginStage, mfaRequired, sessionAmrAtSignIn, upstreamProvedMfa } from './policy';
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from './recovery';
import { matchTotp, newTotpSecret, totpCodeAt, totpUri } from './totp';

const T = Date.UTC(2031, 0, 1, 12, 0, 0);

describe('MFA policy', () => {
  const policy = { everyone: false, groups: ['admins'] };
  it('requires a second factor for everyone, for listed groups, or for a cluster that asks', () => {
    expect(mfaRequired(policy, ['dev'])).toBe(false);
    expect(mfaRequired(policy, ['dev', 'admins'])).toBe(true);
    expect(mfaRequired(policy, ['dev'], { require_mfa: true })).toBe(true);
    expect(mfaRequired({ everyone: true, groups: [] }, [])).toBe(true);
  });

  it('trusts an upstream’s MFA only for the amr/acr values its config names', () => {
    const trust = { mfa_amr_values: ['mfa'], mfa_acr_values: ['http://schemas.microsoft.com/claims/multipleauthn'] };
    expect(upstreamProvedMfa(trust, ['pwd'], undefined)).toBe(false);
    expect(upstreamProvedMfa(trust, ['pwd', 'mfa'], undefined)).toBe(true);
    expect(upstreamProvedMfa(trust, ['pwd'], 'http://schemas.microsoft.com/claims/multipleauthn')).toBe(true);
    expect(upstreamProvedMfa(trust, ['otp'], 'urn:other')).toBe(false);
    expect(sessionAmrAtSignIn(trust, ['pwd', 'mfa'], undefined)).toEqual(['pwd', 'mfa']);
    expect(sessionAmrAtSignIn(trust, ['pwd'], 'http://schemas.microsoft.com/claims/multipleauthn')).toEqual(['pwd', 'mfa']);
  });

  it('records the method after a second factor, and the acr follows', () => {
    expect(amrAfterSecondFactor(['pwd'], 'otp')).toEqual(['pwd', 'otp', 'mfa']);
    expect(amrAfterSecondFactor(['pwd', 'otp', 'mfa'], 'hwk')).toEqual(['pwd', 'otp', 'mfa', 'hwk']);
    expect(acrOf(['pwd'])).toBe('aal1');
    expect(acrOf(['pwd', 'otp', 'mfa'])).toBe('aal2');
  });

  it.each([
    [{ required: false, hasMfa: false, enrolledFactors: 0 }, 'complete'],
    [{ required: true, hasMfa: true, enrolledFactors: 0 }, 'complete'],
    [{ required: true, hasMfa: false, enrolledFactors: 2 }, 'second_factor'],
    [{ required: true, hasMfa: false, enrolledFactors: 0 }, 'enrollment'],
  ] as const)('stage of %j is %s', (input, stage) => {
    expect(loginStage(input)).toBe(stage);
  });
});

describe('TOTP', () => {
  const secret = newTotpSecret();
  it('accepts the current code and ±1 step of drift, and says which step matched', () => {
    const step = Math.floor(T / 30_000);
    expect(matchTotp(secret, totpCodeAt(secret, T), T)).toBe(step);
    expect(matchTotp(secret, totpCodeAt(secret, T - 30_000), T)).toBe(step - 1);
    expect(matchTotp(secret, totpCodeAt(secret, T + 30_000), T)).toBe(step + 1);
    expect(matchTotp(secret, totpCodeAt(secret, T - 90_000), T)).toBeUndefined();
  });

  it('refuses what is not six digits, and takes spaces and dashes people type', () => {
    const code = totpCodeAt(secret, T);
    expect(matchTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, T)).toBeDefined();
    for (const bad of ['', '12345', '1234567', 'abcdef', `${code}0`]) expect(matchTotp(secret, bad, T)).toBeUndefined();
  });

  it('gives authenticator apps a standard otpauth URI', () => {
    const uri = new URL(totpUri(secret, 'Kubegate', 'alice'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('Kubegate');
    expect(uri.searchParams.get('period')).toBe('30');
  });
});

describe('recovery codes', () => {
  it('makes ten distinct codes shown as XXXXX-XXXXX, and hashes what people type the same way', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[A-Z2-9]{5}-[A-Z2-9]{5}$/);
    const c = codes[0]!;
    expect(hashRecoveryCode(c.toLowerCase().replace('-', ' '))).toBe(hashRecoveryCode(c));
    expect(hashRecoveryCode(c)).not.toContain(c.replace('-', ''));
    expect(normalizeRecoveryCode('short')).toBeUndefined();
  });
});
