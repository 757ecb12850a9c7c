import * as oauth from 'oauth4webapi';
import { UpstreamRefusal } from '../types';
import type { OidcUpstreamConfig } from './schema';

/**
 * Calls Kubegate makes to an upstream OpenID Provider outside next-auth's
 * sign-in redirect: discovery, userinfo and the refresh-token grant, through
 * oauth4webapi (the library next-auth itself uses), each bounded by
 * `http_timeout`. Failures become UpstreamRefusals: 'unavailable' for what a
 * retry may cure (network, timeout, 5xx, 429), 'invalid_response' for a
 * protocol violation, so a re-check can tell "down" from "said no".
 */

type UpstreamCallConfig = Pick<OidcUpstreamConfig, 'issuer' | 'client_id' | 'client_secret' | 'token_endpoint_auth_method' | 'allow_insecure_http' | 'http_timeout'>;

const DISCOVERY_TTL_MS = 60 * 60 * 1000;
const discoveries = new Map<string, { as: oauth.AuthorizationServer; at: number }>();

/** Options for every oauth4webapi call: the timeout, and http only where the config allows it. */
export function requestOptions(config: UpstreamCallConfig): { signal: () => AbortSignal; [oauth.allowInsecureRequests]?: boolean } {
  return {
    signal: () => AbortSignal.timeout(config.http_timeout * 1000),
    ...(config.allow_insecure_http ? { [oauth.allowInsecureRequests]: true } : {}),
  };
}

/** True for what a retry may cure: a network error, a timeout, an abort. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return true;
  // undici: `TypeError: fetch failed` with the socket error as its cause; a refused redirect is no blip.
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && /redirect/i.test(cause.message)) return false;
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}

/** An UpstreamRefusal for a failed call, naming what was being done and never a token. */
export function refusalFor(err: unknown, what: string): UpstreamRefusal {
  if (err instanceof UpstreamRefusal) return err;
  if (isTransient(err)) {
    const cause = (err as Error).name === 'TimeoutError' ? 'timed out' : 'could not be reached';
    return new UpstreamRefusal('unavailable', `${what}: the upstream ${cause}`);
  }
  if (err instanceof oauth.ResponseBodyError) {
    const code = err.status >= 500 || err.status === 429 ? 'unavailable' : 'invalid_response';
    return new UpstreamRefusal(code, `${what}: the upstream answered ${err.status} ${err.error}`);
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    // Only an error code of the expected shape is repeated: the header is the upstream's text.
    const code = err.cause.map((c) => c.parameters.error).find((e) => typeof e === 'string' && /^[\w.-]{1,40}$/.test(e));
    return new UpstreamRefusal('invalid_response', `${what}: the upstream refused the request (${err.status}${code ? ` ${code}` : ''})`);
  }
  const message = err instanceof Error ? err.message.slice(0, 200) : 'unknown error';
  return new UpstreamRefusal('invalid_response', `${what}: ${message}`);
}

/** Refuses a non-2xx answer that is not an OAuth error body (an HTML 502 from a proxy) before parsing it. */
export function checkStatus(response: Response, what: string): void {
  if (response.status >= 500 || response.status === 429) {
    throw new UpstreamRefusal('unavailable', `${what}: the upstream answered ${response.status}`);
  }
}

/** The provider's metadata (OIDC Discovery), cached per issuer for an hour. */
export async function discover(config: UpstreamCallConfig, now: number): Promise<oauth.AuthorizationServer> {
  const cached = discoveries.get(config.issuer);
  if (cached && now - cached.at < DISCOVERY_TTL_MS) return cached.as;
  const what = 'discovery';
  try {
    const issuer = new URL(config.issuer);
    const response = await oauth.discoveryRequest(issuer, { ...requestOptions(config), algorithm: 'oidc' });
    checkStatus(response, what);
    const as = await oauth.processDiscoveryResponse(issuer, response);
    discoveries.set(config.issuer, { as, at: now });
    return as;
  } catch (err) {
    throw refusalFor(err, what);
  }
}

export function clientOf(config: UpstreamCallConfig): { client: oauth.Client; auth: oauth.ClientAuth } {
  const client: oauth.Client = { client_id: config.client_id };
  if (!config.client_secret) return { client, auth: oauth.None() };
  return {
    client,
    auth: config.token_endpoint_auth_method === 'client_secret_post' ? oauth.ClientSecretPost(config.client_secret) : oauth.ClientSecretBasic(config.client_secret),
  };
}

/**
 * The userinfo endpoint's claims for this access token. Its `sub` must be
 * the id_token's (OIDC Core §5.3.2): an answer about someone else is refused,
 * never merged.
 */
export async function fetchUserinfo(config: UpstreamCallConfig, as: oauth.AuthorizationServer, accessToken: string, expectedSubject: string): Promise<Record<string, unknown>> {
  const what = 'userinfo';
  if (!as.userinfo_endpoint) throw new UpstreamRefusal('claims', 'the upstream has no userinfo endpoint (groups_source: userinfo needs one)');
  const { client } = clientOf(config);
  try {
    const response = await oauth.userInfoRequest(as, client, accessToken, requestOptions(config));
    checkStatus(response, what);
    const claims = await oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck, response);
    if (claims.sub !== expectedSubject) throw new UpstreamRefusal('invalid_response', 'userinfo: the answer is about another subject than the id_token');
    return claims as Record<string, unknown>;
  } catch (err) {
    throw refusalFor(err, what);
  }
}

/** For tests: forget cached discovery documents. */
export function clearDiscoveryCache(): void {
  discoveries.clear();
}
