import { currentEntitlements } from '../../auth/entitlements';
import type { OAuthClient } from '../client-auth';
import { hashDeviceCode, isWellFormedDeviceCode, NS_DEVICE, type DeviceRecord } from '../device';
import { DevicePollError, InvalidGrantError, InvalidRequestError } from '../errors';
import type { IssuerRequest, IssuerResponse } from '../http';
import { mintCredential, NoAccessError } from '../mint';
import { tokenResponse, type TokenEndpointDeps, type TokenForm } from './shared';

const UNKNOWN = 'the device code is unknown; start the device sign-in again';

/**
 * grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4,
 * §3.5): the device polls until the person approves (tokens), denies
 * (access_denied) or the code expires (expired_token). A poll sooner than
 * the interval after the previous one is told slow_down, and the interval
 * grows by 5 seconds for good.
 */
export async function deviceCodeGrant(req: IssuerRequest, form: TokenForm, client: OAuthClient, deps: TokenEndpointDeps): Promise<IssuerResponse> {
  if (!form.device_code) throw new InvalidRequestError('device_code is required');
  if (!isWellFormedDeviceCode(form.device_code)) throw new InvalidGrantError(UNKNOWN);
  const now = deps.now();
  const key = hashDeviceCode(form.device_code);
  const raw = await deps.store.getEphemeral(NS_DEVICE, key, now);
  if (raw === undefined) throw new InvalidGrantError(UNKNOWN);
  const record = JSON.parse(raw) as DeviceRecord;
  if (record.client_id !== client.clientId) throw new InvalidGrantError('the device code was issued to another client');
  if (record.status === 'redeemed') throw new InvalidGrantError('the device code was already used');
  if (now >= record.expires_at) throw new DevicePollError('expired_token', 'the device code has expired; start the device sign-in again');

  const tooSoon = record.last_poll_at !== null && now - record.last_poll_at < record.interval * 1000;
  if (tooSoon) {
    const slower: DeviceRecord = { ...record, interval: record.interval + 5, last_poll_at: now };
    await deps.store.replaceEphemeral(NS_DEVICE, key, raw, JSON.stringify(slower), now);
    throw new DevicePollError('slow_down', `polling too fast; wait ${slower.interval} seconds between requests`);
  }
  const polled = (r: DeviceRecord) => JSON.stringify({ ...r, last_poll_at: now } satisfies DeviceRecord);
  switch (record.status) {
    case 'pending':
      // A concurrent poll that won the compare-and-set makes this one too fast.
      if (!(await deps.store.replaceEphemeral(NS_DEVICE, key, raw, polled(record), now))) throw new DevicePollError('slow_down', 'polling too fast');
      throw new DevicePollError('authorization_pending', 'waiting for the person to approve the code');
    case 'denied':
      await deps.store.takeEphemeral(NS_DEVICE, key, now);
      throw new DevicePollError('access_denied', 'the request was denied');
    case 'approved':
      break;
  }
  if (!(await deps.store.replaceEphemeral(NS_DEVICE, key, raw, polled({ ...record, status: 'redeemed' }), now))) {
    throw new DevicePollError('slow_down', 'polling too fast');
  }
  const found = record.session_id ? await deps.store.getLoginSession(record.session_id) : undefined;
  const cluster = deps.config.clusters?.find((c) => c.name === client.cluster);
  if (!found || !cluster) throw new InvalidGrantError('the sign-in that approved this code is gone; start again');
  const current = await currentEntitlements(deps.config, found.user);
  if (current.status !== 'active') throw new InvalidGrantError('the account that approved this code is no longer entitled to sign in here');
  try {
    const minted = await mintCredential(
      { issuer: deps.issuer, store: deps.store, keys: deps.keys, idTokenLifetimeSeconds: deps.idTokenLifetimeSeconds, now: deps.now, mfaPolicy: deps.mfaPolicy },
      {
        session: found.session,
        user: { ...found.user, username: current.username, groups: current.groups },
        cluster,
        clientId: client.clientId,
        origin: 'cli',
        clientIp: req.clientIp ?? null,
        requestId: req.requestId ?? null,
      },
    );
    return tokenResponse(minted.idToken, minted.refreshToken, Math.max(0, Math.round((minted.idTokenExpiresAt - now) / 1000)));
  } catch (err) {
    if (err instanceof NoAccessError) {
      throw new InvalidGrantError(
        err.reason === 'session_inactive'
          ? 'the sign-in that approved this code has ended; start again'
          : err.reason === 'mfa_required'
            ? `cluster ${client.cluster} needs a second factor: verify it in the Kubegate portal, then try again`
            : `your groups do not give you access to cluster ${client.cluster}`,
      );
    }
    throw err;
  }
}
