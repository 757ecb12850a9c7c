import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

/**
 * RFC 6238 time-based one-time passwords with `otpauth`: SHA-1, 6 digits,
 * 30 s (what every authenticator app supports), ±1 step of clock drift.
 * Which step a code matched is returned so the caller can refuse it the
 * second time (the store moves a factor's last accepted step only forward).
 */
const PERIOD_SECONDS = 30;
const WINDOW = 1;

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secret: string, label = 'user', issuer = 'Kubegate'): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: 6, period: PERIOD_SECONDS, secret: Secret.fromBase32(secret) });
}

/** The `otpauth://` URI an authenticator app scans. */
export function totpUri(secret: string, issuer: string, label: string): string {
  return totp(secret, label, issuer).toString();
}

/** A QR code of the URI, as an SVG string rendered on the server (no script, no external image). */
export async function totpQrSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
}

/** Normalises what a person typed ("123 456", "123-456"): digits only. */
export function normalizeTotpInput(raw: string): string | undefined {
  const digits = raw.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(digits) ? digits : undefined;
}

/** The time step the code belongs to (within ±1 of now), or undefined. */
export function matchTotp(secret: string, code: string, nowMs: number): number | undefined {
  const token = normalizeTotpInput(code);
  if (!token) return undefined;
  const delta = totp(secret).validate({ token, timestamp: nowMs, window: WINDOW });
  if (delta === null) return undefined;
  return Math.floor(nowMs / 1000 / PERIOD_SECONDS) + delta;
}

/** For tests and the e2e harness: the code for a moment. */
export function totpCodeAt(secret: string, nowMs: number): string {
  return totp(secret).generate({ timestamp: nowMs });
}
