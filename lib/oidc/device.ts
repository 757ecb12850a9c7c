import { createHash, randomBytes, randomInt } from 'node:crypto';
import { z } from 'zod';
import { mayUseCluster } from '../access';
import type { ResolvedCluster } from '../config/load';
import type { MfaPolicy } from '../mfa/policy';
import type { LoginSession, Store, User } from '../store/types';
import type { Logger } from '../util/log';
import { authenticateClient, type OAuthClient } from './client-auth';
import { InvalidRequestError, OAuthError, renderOAuthError, SlowDownError } from './errors';
import { parseForm } from './grants/shared';
import { header, json, NO_STORE, type IssuerRequest, type IssuerResponse } from './http';
import { TokenBuckets, type Admission } from './rate-limit';
import { addressKey, retryAfterSeconds, type TokenThrottle } from './token-throttle';

/**
 * The device authorization grant (RFC 8628) for a headless jump host:
 * POST /oidc/device_authorization hands the device a `device_code` (secret,
 * polled at the token endpoint) and the person a `user_code` to type on the
 * portal's /device page, where they see which client asks for which cluster
 * and approve or deny.
 */

export const DEVICE_AUTHORIZATION_PATH = '/oidc/device_authorization';
export const DEVICE_PAGE_PATH = '/device';
/** How long a code may wait for the person (RFC 8628 §3.2 expires_in). */
export const DEVICE_CODE_TTL_MS = 10 * 60_000;
/** Polling interval, seconds (RFC 8628 §3.2's default); slow_down adds 5 (§3.5). */
export const DEVICE_POLL_INTERVAL_S = 5;
/** The device record outlives the code by this much, so a late poll hears expired_token instead of an unknown code. */
const EXPIRED_MEMORY_MS = 10 * 60_000;

export const NS_DEVICE = 'device_code';
export const NS_USER_CODE = 'device_user_code';

/**
 * RFC 8628 §6.1: consonants only (no vowels, so no words; no 0/O or 1/I to
 * confuse), 8 characters, 20^8 ≈ 2^34.6. Shown as XXXX-XXXX; typed with or
 * without the dash, in any case.
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;

export function newUserCode(): string {
  let s = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return s;
}

/** What the person typed, as the stored code (upper case, no separators), or undefined if it cannot be one. */
export function normalizeUserCode(input: string): string | undefined {
  const s = input.toUpperCase().replace(/[\s-]/g, '');
  if (s.length !== USER_CODE_LENGTH) return undefined;
  for (const c of s) if (!USER_CODE_ALPHABET.includes(c)) return undefined;
  return s;
}

export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

export const DEVICE_CODE_PREFIX = 'kgd_';
const DEVICE_CODE_FORMAT = /^kgd_[A-Za-z0-9_-]{43}$/;

export function isWellFormedDeviceCode(code: string): boolean {
  return DEVICE_CODE_FORMAT.test(code);
}

export function hashDeviceCode(code: string): string {
  return createHash('sha256').update(code).digest('base64url');
}

/** The device code's record (keyed by its hash). */
export interface DeviceRecord {
  status: 'pending' | 'approved' | 'denied' | 'redeemed';
  client_id: string;
  cluster: string;
  scope: string;
  user_code: string;
  created_at: number;
  expires_at: number;
  /** Seconds the device must wait between polls; slow_down raises it. */
  interval: number;
  last_poll_at: number | null;
  /** Who approved, from which sign-in. */
  session_id?: string;
  user_id?: string;
}

/**
 * User-code entry limits, in memory: per address (IPv6 by /64) every
 * attempt; globally only the failed ones (a guess spread over many
 * addresses still meets this), so a flood of guesses cannot lock out
 * people with a real code for long.
 */
export class UserCodeThrottle {
  private readonly perAddress: TokenBuckets;
  private readonly globalFailures: TokenBuckets;

  constructor(limits: { perAddress: { burst: number; perMinute: number }; globalFailures: { burst: number; perMinute: number } } = {
    perAddress: { burst: 10, perMinute: 10 },
    globalFailures: { burst: 60, perMinute: 60 },
  }) {
    this.perAddress = new TokenBuckets(limits.perAddress);
    this.globalFailures = new TokenBuckets(limits.globalFailures, 1);
  }

  admit(ip: string | null | undefined, now: number): Admission {
    const global = this.globalFailures.check('all', now);
    if (!global.ok) return global;
    return this.perAddress.take(addressKey(ip ?? undefined), now);
  }

  failed(now: number): void {
    this.globalFailures.charge('all', now);
  }
}

export interface DeviceDeps {
  issuer: string;
  store: Store;
  clients: ReadonlyMap<string, OAuthClient>;
  clusters: ReadonlyMap<string, ResolvedCluster>;
  userCodes: UserCodeThrottle;
  /** Who must have shown a second factor (config `mfa`); a cluster can ask too. */
  mfaPolicy?: MfaPolicy;
  now: () => number;
  log: Logger;
}

const DeviceAuthorizationSchema = z.object({
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  scope: z.string().optional(),
});

/**
 * POST /oidc/device_authorization (RFC 8628 §3.1, §3.2). Every request
 * stores a record, so each one spends from the address's bucket of the
 * token endpoint's failure limit (`throttle`), checked first.
 */
export async function handleDeviceAuthorization(
  req: IssuerRequest,
  deps: Omit<DeviceDeps, 'userCodes' | 'clusters'> & { throttle?: TokenThrottle },
): Promise<IssuerResponse> {
  try {
    if (deps.throttle) {
      const now = deps.now();
      const admitted = deps.throttle.admitAddress(req.clientIp, now);
      if (!admitted.ok) throw new SlowDownError('address', retryAfterSeconds(admitted));
      deps.throttle.addressFailed(req.clientIp, now);
    }
    const form = parseForm(req, DeviceAuthorizationSchema);
    const client = authenticateClient(header(req, 'authorization'), form, deps.clients);
    const scopes = (form.scope ?? 'openid').split(' ').filter(Boolean);
    if (!scopes.includes('openid')) throw new OAuthError('invalid_scope', 'scope must include openid');
    const issued = await startDeviceAuthorization(deps, client, scopes.join(' '));
    return json(
      200,
      {
        device_code: issued.deviceCode,
        user_code: formatUserCode(issued.userCode),
        verification_uri: deps.issuer + DEVICE_PAGE_PATH,
        verification_uri_complete: `${deps.issuer}${DEVICE_PAGE_PATH}?user_code=${formatUserCode(issued.userCode)}`,
        expires_in: Math.round(DEVICE_CODE_TTL_MS / 1000),
        interval: DEVICE_POLL_INTERVAL_S,
      },
      { ...NO_STORE },
    );
  } catch (err) {
    return renderOAuthError(err, { requestId: req.requestId, log: deps.log, where: 'device authorization endpoint' });
  }
}

/** Makes a device code and its user code (a fresh user code on the rare collision with a live one). */
export async function startDeviceAuthorization(
  deps: Pick<DeviceDeps, 'store' | 'now'>,
  client: OAuthClient,
  scope: string,
): Promise<{ deviceCode: string; userCode: string; record: DeviceRecord }> {
  const now = deps.now();
  const deviceCode = DEVICE_CODE_PREFIX + randomBytes(32).toString('base64url');
  const key = hashDeviceCode(deviceCode);
  for (let attempt = 0; attempt < 5; attempt++) {
    const userCode = newUserCode();
    const record: DeviceRecord = {
      status: 'pending',
      client_id: client.clientId,
      cluster: client.cluster,
      scope,
      user_code: userCode,
      created_at: now,
      expires_at: now + DEVICE_CODE_TTL_MS,
      interval: DEVICE_POLL_INTERVAL_S,
      last_poll_at: null,
    };
    if (!(await deps.store.putEphemeral(NS_USER_CODE, userCode, key, record.expires_at, now))) continue;
    await deps.store.putEphemeral(NS_DEVICE, key, JSON.stringify(record), record.expires_at + EXPIRED_MEMORY_MS, now);
    return { deviceCode, userCode, record };
  }
  throw new InvalidRequestError('could not allocate a user code; try again');
}

/** What the /device page shows before the person decides. */
export interface DeviceRequestView {
  userCode: string;
  clientId: string;
  cluster: string;
  clusterDisplayName: string;
  /** The person's groups give access to the cluster (else approving is refused). */
  allowed: boolean;
  expiresAt: number;
}

export type LookupResult =
  | { status: 'found'; view: DeviceRequestView }
  | { status: 'malformed' | 'not_found' }
  | { status: 'rate_limited'; retryAfterSeconds: number };

async function find(deps: DeviceDeps, userCode: string, now: number): Promise<{ key: string; raw: string; record: DeviceRecord } | undefined> {
  const key = await deps.store.getEphemeral(NS_USER_CODE, userCode, now);
  if (key === undefined) return undefined;
  const raw = await deps.store.getEphemeral(NS_DEVICE, key, now);
  if (raw === undefined) return undefined;
  const record = JSON.parse(raw) as DeviceRecord;
  if (record.status !== 'pending' || now >= record.expires_at) return undefined;
  return { key, raw, record };
}

/** Looks up a typed (or linked) user code, rate limited: a miss is a guess. */
export async function lookupUserCode(deps: DeviceDeps, input: string, who: { user: Pick<User, 'groups'>; clientIp?: string | null }): Promise<LookupResult> {
  const now = deps.now();
  const admitted = deps.userCodes.admit(who.clientIp, now);
  if (!admitted.ok) return { status: 'rate_limited', retryAfterSeconds: Math.ceil(admitted.retryAfterMs / 1000) };
  const userCode = normalizeUserCode(input);
  if (!userCode) return { status: 'malformed' };
  const found = await find(deps, userCode, now);
  if (!found) {
    deps.userCodes.failed(now);
    return { status: 'not_found' };
  }
  const cluster = deps.clusters.get(found.record.cluster);
  const client = deps.clients.get(found.record.client_id);
  return {
    status: 'found',
    view: {
      userCode: formatUserCode(userCode),
      clientId: found.record.client_id,
      cluster: found.record.cluster,
      clusterDisplayName: cluster?.display_name ?? found.record.cluster,
      allowed: client !== undefined && mayUseCluster({ allowed_groups: [...client.allowedGroups] }, who.user.groups),
      expiresAt: found.record.expires_at,
    },
  };
}

export type DecideResult = 'approved' | 'denied' | 'not_found' | 'not_allowed' | 'rate_limited' | 'malformed';

/**
 * The person's decision on a user code (the /device page's server action).
 * Approval binds the device code to this login session; the device's next
 * poll gets the tokens. Either way the user code is used up.
 */
export async function decideUserCode(
  deps: DeviceDeps,
  input: string,
  decision: 'approve' | 'deny',
  who: { session: LoginSession; user: User; clientIp?: string | null },
): Promise<DecideResult> {
  const now = deps.now();
  const admitted = deps.userCodes.admit(who.clientIp, now);
  if (!admitted.ok) return 'rate_limited';
  const userCode = normalizeUserCode(input);
  if (!userCode) return 'malformed';
  const found = await find(deps, userCode, now);
  if (!found) {
    deps.userCodes.failed(now);
    return 'not_found';
  }
  const client = deps.clients.get(found.record.client_id);
  const allowed = client !== undefined && mayUseCluster({ allowed_groups: [...client.allowedGroups] }, who.user.groups);
  if (decision === 'approve' && !allowed) return 'not_allowed';
  const next: DeviceRecord =
    decision === 'approve' ? { ...found.record, status: 'approved', session_id: who.session.id, user_id: who.user.id } : { ...found.record, status: 'denied' };
  if (!(await deps.store.replaceEphemeral(NS_DEVICE, found.key, found.raw, JSON.stringify(next), now))) return 'not_found';
  await deps.store.takeEphemeral(NS_USER_CODE, userCode, now);
  await deps.store.appendAudit(
    {
      kind: decision === 'approve' ? 'device.approved' : 'device.denied',
      user_id: who.user.id,
      username: who.user.username,
      cluster: found.record.cluster,
      session_id: who.session.id,
      client_ip: who.clientIp ?? null,
      details: { client_id: found.record.client_id },
    },
    now,
  );
  return decision === 'approve' ? 'approved' : 'denied';
}
