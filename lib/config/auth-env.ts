/**
 * Auth.js must see one public URL, the configured issuer, whatever Host a
 * request came with. AUTH_URL is the documented way, but next-auth then
 * rebuilds each request as a NextRequest, and NextRequest rewrites a
 * 127.0.0.1 or [::1] host to "localhost": the upstream saw
 * redirect_uri=http://127.0.0.1/... at sign-in and http://localhost/... in
 * the code exchange, and refused the code. So AUTH_URL stays unset: the
 * server entry stamps X-Forwarded-Host/Proto from the issuer URL (which
 * Auth.js's actions read) and the auth route hands Auth.js a plain Request
 * whose URL is built from the issuer (lib/auth/canonical-request.ts).
 */
export function exportAuthEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  delete env.AUTH_URL;
  delete env.NEXTAUTH_URL;
  env.AUTH_TRUST_HOST = 'true';
}

/** The forwarded headers every portal request carries, derived from the issuer URL. */
export function canonicalForwardedHeaders(issuerUrl: string): { 'x-forwarded-host': string; 'x-forwarded-proto': string } {
  const url = new URL(issuerUrl);
  return { 'x-forwarded-host': url.host, 'x-forwarded-proto': url.protocol.replace(/:$/, '') };
}
