import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProxyTrust, RequestLike } from './client-address';
import { portalSecurityHeaders } from './security-headers';

export interface PortalRequestOptions {
  https: boolean;
  dev: boolean;
  proxy: ProxyTrust;
  formActionOrigins: readonly string[];
  /** X-Forwarded-Host/Proto derived from the issuer URL (lib/config/auth-env.ts). */
  forwarded: Record<string, string>;
}

/**
 * Prepares a request for the portal (Next.js): stamps what the pages may
 * trust, overwriting anything the client sent under those names, and sets
 * the security headers with this response's CSP nonce. Next.js reads the
 * nonce from the request's CSP header and puts it on its own scripts.
 */
export function stampPortalRequest(req: IncomingMessage, res: ServerResponse, o: PortalRequestOptions): void {
  const nonce = randomBytes(16).toString('base64');
  const headers = portalSecurityHeaders({ nonce, https: o.https, dev: o.dev, formActionOrigins: o.formActionOrigins });
  req.headers['x-kubegate-client-ip'] = o.proxy.clientAddress(req) ?? '';
  // Every public URL (Auth.js callbacks, redirects) derives from the issuer URL.
  Object.assign(req.headers, o.forwarded);
  req.headers['content-security-policy'] = headers['content-security-policy'];
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

export interface CanonicalRedirect {
  status: 303 | 307;
  location: string;
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };
/** A request target we can put after the issuer's origin as it is: origin-form, printable ASCII. */
const ORIGIN_FORM = /^\/[\x21-\x7e]*$/;

function lastValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v.at(-1) : v;
  if (s === undefined) return undefined;
  // A proxy chain may append: the nearest proxy's value is the last one.
  const parts = s.split(',');
  const last = parts[parts.length - 1]!.trim();
  return last === '' ? undefined : last;
}

/**
 * The portal lives at one origin, `issuer.url`: Auth.js callbacks, server
 * actions' origin check and cookies all depend on it. A portal request that
 * arrived under another host name (`127.0.0.1` for `localhost`, a bare
 * ingress address) is sent to the same path and query on the issuer:
 * GET/HEAD with 307, any other method with 303 (a GET of the same page: a
 * form posted from another origin would be refused there anyway, so it is
 * not re-posted). Temporary, never cached: the issuer URL may change.
 *
 * The host is the one the browser used: `Host`, or behind a trusted proxy
 * its `X-Forwarded-Host` (a proxy may rewrite Host to the backend's
 * address). The scheme is not compared: a TLS-terminating proxy talks plain
 * http to us, and a mismatch would loop. Issuer endpoints never come here.
 */
export function canonicalRedirect(
  req: RequestLike & { method?: string | undefined; url?: string | undefined },
  o: { issuer: URL; proxy: ProxyTrust },
): CanonicalRedirect | undefined {
  const forwarded = o.proxy.trustsPeer(req) ? lastValue(req.headers['x-forwarded-host']) : undefined;
  const raw = forwarded ?? req.headers.host;
  if (raw !== undefined && sameHost(raw, o.issuer)) return undefined;
  const target = req.url !== undefined && ORIGIN_FORM.test(req.url) ? req.url : '/';
  const safe = req.method === 'GET' || req.method === 'HEAD';
  return { status: safe ? 307 : 303, location: o.issuer.origin + target };
}

const LOOPBACK_PEER = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/**
 * Next renders the page a server action redirects to by fetching it from
 * its own listener (the hostname and port given to `next()`), with the
 * browser's cookies. That fetch is addressed to the listen address, not the
 * issuer's host name: sent to the canonical host, it would follow the
 * redirect without the cookies (a cross-origin redirect drops them) and the
 * page would render signed out. It is recognised as a GET for an RSC payload
 * from this machine to exactly the listen address; nothing else is exempt.
 */
export function isOwnRedirectRender(req: RequestLike & { method?: string | undefined }, listen: { host: string; port: number }): boolean {
  const peer = req.socket?.remoteAddress;
  if (peer === undefined || !LOOPBACK_PEER.test(peer)) return false;
  if (req.method !== 'GET' || req.headers['rsc'] !== '1') return false;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return req.headers.host?.toLowerCase() === `${host}:${listen.port}`.toLowerCase();
}

function sameHost(raw: string, issuer: URL): boolean {
  let host = raw.trim().toLowerCase();
  const port = DEFAULT_PORT[issuer.protocol];
  if (port && host.endsWith(`:${port}`)) host = host.slice(0, -(port.length + 1));
  return host === issuer.host;
}
