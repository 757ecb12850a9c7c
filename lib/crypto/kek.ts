import fs from 'node:fs';
import { calculateJwkThumbprint, compactDecrypt, CompactEncrypt, decodeProtectedHeader } from 'jose';
import { ConfigError } from '../config/load';
import { AppError } from '../util/errors';

/**
 * Secrets at rest: the signing keys' private halves and the server secrets
 * (cookie secret, refresh-successor key) are stored encrypted with a
 * key-encryption key (KEK) that is never in the database: it comes from
 * $KUBEGATE_KEY_ENCRYPTION_KEY or from `secrets.key_encryption_key_file`.
 *
 * Each value is a compact JWE (RFC 7516) with `alg: dir`, `enc: A256GCM`,
 * `kid` = the KEK's RFC 7638 thumbprint (so a wrong key is named, not just
 * "decryption failed"), and the row it belongs to in the protected header,
 * which AES-GCM authenticates: a ciphertext moved to another row is refused.
 */

export const KEK_ENV = 'KUBEGATE_KEY_ENCRYPTION_KEY';
export const KEK_FILE_FIELD = 'secrets.key_encryption_key_file';
/** Private JWE header parameter naming the row a ciphertext belongs to. */
const ROW_HEADER = 'kubegate_row';
const README = 'see README "Keys and secrets"';
const HOW_TO_MAKE = 'openssl rand -base64 32';

/** The KEK could not be found, read or used: Kubegate refuses to start. */
export class KekError extends ConfigError {
  constructor(
    override readonly code: 'kek_missing' | 'kek_unreadable' | 'kek_malformed' | 'kek_mismatch',
    source: string,
    problem: string,
  ) {
    super(source, [problem]);
    this.name = 'KekError';
  }
}

/** A stored ciphertext is not what was written for that row: the database was altered. */
export class SealedValueError extends AppError {
  constructor(code: 'sealed_corrupt' | 'sealed_row_mismatch' | 'not_sealed', message: string) {
    super(code, message);
  }
}

/** True for a value written by `seal` (a five-part compact JWE with an empty encrypted-key part). */
export function isSealed(value: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);
}

/** The row identities bound into ciphertexts. */
export const rowId = {
  signingKey: (kid: string) => `signing_keys/${kid}`,
  serverSecret: (name: string) => `server_secrets/${name}`,
  mfaFactor: (id: string) => `mfa_factors/${id}`,
  /**
   * A person's upstream re-check state (lib/upstream/recheck.ts), bound to
   * their (upstream, subject): another person's ciphertext is refused.
   */
  recheckState: (upstream: string, subject: string) => `users/${encodeURIComponent(upstream)}/${encodeURIComponent(subject)}/recheck_state`,
};

export class KeyEncryptionKey {
  private constructor(
    private readonly key: Uint8Array,
    /** RFC 7638 thumbprint of the key as an `oct` JWK: names it without revealing it. */
    readonly kid: string,
    /** Where it came from, for messages. */
    readonly source: string,
  ) {}

  /**
   * Parses base64 or base64url of exactly 32 bytes (surrounding whitespace
   * ignored). Returns a problem description instead when the text is not that.
   */
  static async parse(text: string, source: string): Promise<KeyEncryptionKey | string> {
    const t = text.trim();
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
      return `must be base64 of 32 random bytes (${HOW_TO_MAKE}); it holds other characters or is empty`;
    }
    const bytes = new Uint8Array(Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
    if (bytes.length !== 32) return `must be base64 of 32 random bytes (${HOW_TO_MAKE}); it decodes to ${bytes.length} bytes`;
    const kid = await calculateJwkThumbprint({ kty: 'oct', k: Buffer.from(bytes).toString('base64url') });
    return new KeyEncryptionKey(bytes, kid, source);
  }

  /** Encrypts `plaintext` for the row `row` (see rowId). */
  async seal(row: string, plaintext: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: this.kid, [ROW_HEADER]: row })
      .encrypt(this.key);
  }

  /**
   * Checks, without decrypting, that `sealed` is a ciphertext written with
   * this KEK: done before anything is written, so a wrong key never adds
   * rows the right one cannot read.
   */
  check(row: string, sealed: string): void {
    if (!isSealed(sealed)) throw new SealedValueError('not_sealed', `${row} is not encrypted`);
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(sealed).kid;
    } catch {
      throw new SealedValueError('sealed_corrupt', `${row} holds a damaged ciphertext: the database was altered`);
    }
    if (kid !== this.kid) {
      throw new KekError(
        'kek_mismatch',
        this.source,
        `this is not the key-encryption key the database was written with: the database's ${row} expects key ${String(kid)}, ` +
          `the key given (${this.source}) is ${this.kid}. Start Kubegate with the key it was written with (${README}).`,
      );
    }
  }

  /**
   * Decrypts the value stored in `row`. Throws KekError (kek_mismatch) when
   * it was written with another KEK, SealedValueError when it is not a
   * ciphertext, was altered, or belongs to another row.
   */
  async open(row: string, sealed: string): Promise<string> {
    this.check(row, sealed);
    let result: Awaited<ReturnType<typeof compactDecrypt>>;
    try {
      result = await compactDecrypt(sealed, this.key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
    } catch {
      throw new SealedValueError('sealed_corrupt', `${row} does not decrypt with key ${this.kid}: the database was altered`);
    }
    const bound = result.protectedHeader[ROW_HEADER];
    if (bound !== row) {
      throw new SealedValueError('sealed_row_mismatch', `${row} holds the ciphertext of ${String(bound)}: the database was altered`);
    }
    return new TextDecoder().decode(result.plaintext);
  }
}

export interface KekSource {
  env: Record<string, string | undefined>;
  /** `secrets.key_encryption_key_file`, already resolved against the config's directory. */
  file?: string;
  /** The config file, for messages. */
  configFile: string;
  readFile?: (file: string) => string;
  fileMode?: (file: string) => number;
}

/**
 * Finds the KEK: $KUBEGATE_KEY_ENCRYPTION_KEY when set, else the file the
 * config names. Throws KekError when there is none or it is not a key.
 * `warning` is set when the key file is readable by group or others.
 */
export async function loadKek(src: KekSource): Promise<{ kek: KeyEncryptionKey; warning?: string }> {
  const fromEnv = src.env[KEK_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const kek = await KeyEncryptionKey.parse(fromEnv, KEK_ENV);
    if (typeof kek === 'string') throw new KekError('kek_malformed', KEK_ENV, `${KEK_ENV}: ${kek}`);
    return { kek };
  }
  if (src.file === undefined) {
    throw new KekError(
      'kek_missing',
      src.configFile,
      `${KEK_FILE_FIELD}: no key-encryption key is configured. The database's signing keys and secrets are encrypted with one ` +
        `that is kept outside it: set ${KEK_ENV} to base64 of 32 random bytes (${HOW_TO_MAKE}), or write such a key to a file ` +
        `readable only by Kubegate and name it in ${KEK_FILE_FIELD} (${README}).`,
    );
  }
  const readFile = src.readFile ?? ((f: string) => fs.readFileSync(f, 'utf8'));
  let text: string;
  try {
    text = readFile(src.file);
  } catch (err) {
    throw new KekError('kek_unreadable', src.configFile, `${KEK_FILE_FIELD}: cannot read ${src.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const kek = await KeyEncryptionKey.parse(text, `${src.file} (${KEK_FILE_FIELD})`);
  if (typeof kek === 'string') throw new KekError('kek_malformed', src.configFile, `${KEK_FILE_FIELD}: ${src.file} ${kek}`);
  const mode = (src.fileMode ?? ((f: string) => fs.statSync(f).mode))(src.file);
  const warning = mode & 0o077 ? `${src.file} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it` : undefined;
  return { kek, warning };
}

/** The part of the store a server secret lives in. */
export interface SecretStore {
  getOrCreateSecret(name: string, generate: () => string, now: number): Promise<string>;
  replaceSecret(name: string, expected: string, next: string): Promise<boolean>;
}

/**
 * Reads the named server secret, creating it (encrypted) on first use. A
 * value an earlier version stored in clear is encrypted in place, once
 * (`encryptedInPlace`), keeping its value: cookies and refresh tokens
 * issued before the upgrade stay good.
 */
export async function openServerSecret(
  store: SecretStore,
  kek: KeyEncryptionKey,
  name: string,
  generate: () => string,
  now: number,
): Promise<{ value: string; encryptedInPlace: boolean }> {
  const row = rowId.serverSecret(name);
  const fresh = await kek.seal(row, generate());
  const stored = await store.getOrCreateSecret(name, () => fresh, now);
  if (isSealed(stored)) return { value: await kek.open(row, stored), encryptedInPlace: false };
  // Written in clear by an earlier version. Compare-and-set: two processes upgrading at once agree.
  if (await store.replaceSecret(name, stored, await kek.seal(row, stored))) return { value: stored, encryptedInPlace: true };
  return openServerSecret(store, kek, name, generate, now);
}
