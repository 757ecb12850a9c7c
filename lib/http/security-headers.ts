/**
 * Security headers for every portal response. The CSP is strict: scripts
 * only with this response's nonce ('strict-dynamic' lets Next's own chunks
 * load), no inline styles without it, no framing, no plugins, forms only to
 * ourselves and to the upstream identity providers sign-in redirects go to.
 */
export interface SecurityHeaderOptions {
  nonce: string;
  /** Served over https (directly or behind a TLS-terminating proxy): adds HSTS. */
  https: boolean;
  dev: boolean;
  /** Origins sign-in forms may post or redirect to (upstream IdPs). */
  formActionOrigins: readonly string[];
}

export function contentSecurityPolicy(o: SecurityHeaderOptions): string {
  const directives: [string, ...string[]][] = [
    ['default-src', "'self'"],
    ['script-src', "'self'", `'nonce-${o.nonce}'`, "'strict-dynamic'", ...(o.dev ? ["'unsafe-eval'"] : [])],
    ['style-src', "'self'", `'nonce-${o.nonce}'`, ...(o.dev ? ["'unsafe-inline'"] : [])],
    ['img-src', "'self'", 'data:'],
    ['font-src', "'self'"],
    ['connect-src', "'self'", ...(o.dev ? ['ws:'] : [])],
    ['object-src', "'none'"],
    ['base-uri', "'none'"],
    ['frame-ancestors', "'none'"],
    ['form-action', "'self'", ...o.formActionOrigins],
  ];
  if (o.https) directives.push(['upgrade-insecure-requests']);
  return directives.map((d) => d.join(' ')).join('; ');
}

export function portalSecurityHeaders(o: SecurityHeaderOptions): Record<string, string> {
  const h: Record<string, string> = {
    'content-security-policy': contentSecurityPolicy(o),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    // Not no-referrer: with it, Chrome sends `Origin: null` on same-origin form posts,
    // which the CSRF check (rightly) refuses.
    'referrer-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
  if (o.https) h['strict-transport-security'] = 'max-age=63072000; includeSubDomains';
  return h;
}
