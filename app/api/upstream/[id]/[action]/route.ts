import { AuthError } from 'next-auth';
import { cookies, headers } from 'next/headers';
import { redirect, unstable_rethrow } from 'next/navigation';
import { signIn, signInDeps, TICKET_PROVIDER } from '@/lib/auth/next-auth';
import { getRuntime } from '@/lib/runtime-global';
import { BINDING_COOKIE, COMPLETE_ACTION, handleUpstreamAction, readBindingCookie } from '@/lib/upstream/redirect-flow';
import { upstreamsOf } from '@/lib/upstream/registry';

/**
 * Redirect-protocol upstreams (SAML): /api/upstream/<id>/<action>. The
 * protocol is the connector's (lib/upstream/<kind>/); binding the answer to
 * this browser and opening the session is the seam's (lib/upstream/redirect-flow.ts).
 */
type Params = { params: Promise<{ id: string; action: string }> };

async function serve(request: Request, { params }: Params): Promise<Response> {
  const [{ id, action }, rt, h] = await Promise.all([params, getRuntime(), headers()]);
  const bound = upstreamsOf(rt.config).get(id);
  if (!bound || bound.connector.flow !== 'redirect') return new Response('Not found', { status: 404, headers: { 'cache-control': 'no-store' } });
  const meta = { clientIp: h.get('x-kubegate-client-ip'), userAgent: h.get('user-agent') };
  if (action !== COMPLETE_ACTION) {
    return handleUpstreamAction({ ...signInDeps(rt), issuerUrl: rt.config.issuer.url }, bound, action, request, meta);
  }
  // The browser's same-site GET after the IdP's cross-site POST: its binding cookie must match the ticket.
  const jar = await cookies();
  const bindingCookie = readBindingCookie(jar.get(BINDING_COOKIE)?.value);
  jar.delete(BINDING_COOKIE);
  const ticket = new URL(request.url).searchParams.get('ticket') ?? '';
  try {
    await signIn(TICKET_PROVIDER, {
      upstream: id,
      ticket,
      binding: bindingCookie?.u === id ? bindingCookie.b : '',
      redirectTo: bindingCookie?.n ?? '/',
    });
  } catch (err) {
    unstable_rethrow(err);
    const code = err instanceof AuthError ? ((err as AuthError & { code?: string }).code ?? 'invalid_response') : 'Default';
    if (!(err instanceof AuthError)) rt.log.error('upstream sign-in could not complete', { upstream: id, error: err instanceof Error ? err.name : String(err) });
    redirect(`/login?error=${encodeURIComponent(code)}`);
  }
  redirect('/');
}

export const GET = serve;
export const POST = serve;
