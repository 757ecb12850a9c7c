import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddress } from './node-adapter';
import { portalSecurityHeaders } from './security-headers';

export interface PortalRequestOptions {
  https: boolean;
  dev: boolean;
  trustProxy: boolean;
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
  req.headers['x-kubegate-client-ip'] = clientAddress(req, o.trustProxy) ?? '';
  // Every public URL (Auth.js callbacks, redirects) derives from the issuer URL.
  Object.assign(req.headers, o.forwarded);
  req.headers['content-security-policy'] = headers['content-security-policy'];
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}
