/**
 * A software WebAuthn authenticator for unit tests: a real P-256 key made
 * with node:crypto, and the bytes a browser would send, built by hand per
 * WebAuthn Level 3 §6.1 (authenticator data), §6.5.4 ('none' attestation),
 * §5.8.1 (client data) and §6.3.3 (assertion signature). Each knob a test
 * needs to play an attacker or a broken authenticator is a parameter.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

type Cbor = number | string | Uint8Array | Cbor[] | Map<Cbor, Cbor> | { [k: string]: Cbor };

/** Just enough CBOR (RFC 8949) for attestation objects and COSE keys. */
function cbor(v: Cbor): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), Buffer.from(v)]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(cbor)]);
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

export interface Flags {
  up?: boolean;
  uv?: boolean;
  /** Backup eligible (a syncable passkey). */
  be?: boolean;
  /** Backed up. */
  bs?: boolean;
}

function flagsByte(f: Flags, attested: boolean): number {
  return (f.up === false ? 0 : 0x01) | (f.uv === false ? 0 : 0x04) | (f.be ? 0x08 : 0) | (f.bs ? 0x10 : 0) | (attested ? 0x40 : 0);
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  private readonly key: KeyObject;
  private readonly cose: Buffer;
  counter: number;

  /** `counting`: a signature counter that starts at `counter` and moves by one per use; otherwise it stays 0 (as most passkeys do). */
  constructor(readonly opts: { flags?: Flags; counting?: boolean; counter?: number } = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.key = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    // COSE_Key (RFC 9053): kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
    this.cose = cbor(
      new Map<Cbor, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    this.counter = opts.counter ?? 0;
  }

  get id(): string {
    return this.credentialId.toString('base64url');
  }

  private authData(rpId: string, flags: Flags, attested: boolean): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter);
    const parts: Buffer[] = [sha256(rpId), Buffer.from([flagsByte(flags, attested)]), count];
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.credentialId.length);
      parts.push(Buffer.alloc(16), len, this.credentialId, this.cose);
    }
    return Buffer.concat(parts);
  }

  private static clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** navigator.credentials.create() as @simplewebauthn/browser would send it. */
  register(input: { challenge: string; origin: string; rpId: string; flags?: Flags }) {
    const flags = { ...this.opts.flags, ...input.flags };
    const clientDataJSON = SoftAuthenticator.clientData('webauthn.create', input.challenge, input.origin);
    const attestationObject = cbor({ fmt: 'none', attStmt: {}, authData: this.authData(input.rpId, flags, true) });
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      clientExtensionResults: {},
      authenticatorAttachment: 'platform' as const,
      response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: attestationObject.toString('base64url'), transports: ['internal' as const] },
    };
  }

  /** navigator.credentials.get(); a counting authenticator's counter moves by `step` (default 1; 0 or less: as a clone would). */
  authenticate(input: { challenge: string; origin: string; rpId: string; flags?: Flags; step?: number; userHandle?: string }) {
    this.counter += input.step ?? (this.opts.counting ? 1 : 0);
    const flags = { ...this.opts.flags, ...input.flags };
    const authenticatorData = this.authData(input.rpId, flags, false);
    const clientDataJSON = SoftAuthenticator.clientData('webauthn.get', input.challenge, input.origin);
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), this.key);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key' as const,
      clientExtensionResults: {},
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authenticatorData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(input.userHandle !== undefined ? { userHandle: Buffer.from(input.userHandle).toString('base64url') } : {}),
      },
    };
  }
}
