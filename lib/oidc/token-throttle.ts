import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { TokenBuckets, type Admission, type BucketPolicy } from './rate-limit';

/**
 * The token endpoint's rate limits, in memory and O(1) per request:
 *
 * - per credential (refresh-token family): every request that names a live
 *   or dead family spends from that family's bucket. kubectl refreshes once
 *   per id_token lifetime and racing tools a handful at once, far below the
 *   burst; a loop hammering one (stolen, revoked) token is cut off after it.
 * - failed requests per client address: only failures that name no family
 *   (malformed requests, bad client authentication, unknown tokens) spend,
 *   and an address whose bucket is empty is refused before any work. A
 *   successful refresh never spends here, so any number of people behind one
 *   NAT refresh unthrottled; a denied refresh of a known family spends only
 *   from that family, so one runaway script cannot lock its office out.
 *
 * Each replica keeps its own buckets: with n replicas the limits are n times
 * looser, which still bounds what a client can make us do.
 */
export interface TokenThrottlePolicy {
  perCredential: BucketPolicy;
  perAddressFailures: BucketPolicy;
}

/**
 * The key an address is limited under: IPv4 as it is, IPv6 by its /64 (one
 * host usually holds a whole /64, so limiting single v6 addresses would
 * limit nothing). No address at all shares one key.
 */
export function addressKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  if (isIP(ip) === 4) return ip;
  try {
    const addr = ipaddr.process(ip);
    if (addr.kind() === 'ipv4') return addr.toString();
    const parts = (addr as ipaddr.IPv6).parts.slice(0, 4);
    return parts.map((p) => p.toString(16)).join(':') + '::/64';
  } catch {
    return `other:${ip.slice(0, 64)}`;
  }
}

export class TokenThrottle {
  private readonly families: TokenBuckets;
  private readonly addresses: TokenBuckets;

  constructor(policy: TokenThrottlePolicy, maxKeys = 100_000) {
    this.families = new TokenBuckets(policy.perCredential, maxKeys);
    this.addresses = new TokenBuckets(policy.perAddressFailures, maxKeys);
  }

  /** Checked before any work: may this address be served at all? */
  admitAddress(ip: string | undefined, now: number): Admission {
    return this.addresses.check(addressKey(ip), now);
  }

  /** A failed request that named no family. */
  addressFailed(ip: string | undefined, now: number): void {
    this.addresses.charge(addressKey(ip), now);
  }

  /** Spends one request from the family's bucket, or says how long to wait. */
  admitFamily(familyId: string, now: number): Admission {
    return this.families.take(familyId, now);
  }
}

/** Whole seconds for Retry-After, at least 1. */
export function retryAfterSeconds(a: Extract<Admission, { ok: false }>): number {
  return Math.max(1, Math.ceil(a.retryAfterMs / 1000));
}
