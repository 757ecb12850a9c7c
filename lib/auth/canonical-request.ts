/**
 * The same request, addressed at the configured issuer URL instead of
 * whatever Host it arrived with, as a plain `Request` (a NextRequest would
 * turn 127.0.0.1 back into "localhost"; see lib/config/auth-env.ts).
 */
export function canonicalRequest(req: Request, issuerUrl: string): Request {
  const incoming = new URL(req.url);
  const url = new URL(incoming.pathname + incoming.search, issuerUrl);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  return new Request(url, {
    method: req.method,
    headers: req.headers,
    body: hasBody ? req.body : undefined,
    redirect: 'manual',
    // Required by undici for a streamed body.
    ...(hasBody ? { duplex: 'half' } : {}),
  } as RequestInit);
}
