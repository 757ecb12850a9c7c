import { createHash, randomInt } from 'node:crypto';

/**
 * Recovery codes: ten single-use codes shown once, stored hashed. Each is
 * 10 characters from an alphabet without look-alikes (about 50 bits), shown
 * as `XXXXX-XXXXX`; a high-entropy random code needs no slow hash, and the
 * store looks it up by hash, so checking one takes the same time whatever it is.
 */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const RECOVERY_CODE_COUNT = 10;

export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const chars = Array.from({ length: 10 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
}

/** Upper-cased, spaces and dashes dropped; undefined when it cannot be a recovery code. */
export function normalizeRecoveryCode(raw: string): string | undefined {
  const code = raw.replace(/[\s-]/g, '').toUpperCase();
  return /^[A-Z0-9]{10}$/.test(code) ? code : undefined;
}

export function hashRecoveryCode(code: string): string {
  return createHash('sha256').update(`kubegate-recovery:${normalizeRecoveryCode(code) ?? code}`).digest('base64url');
}
