import 'server-only';
import { continueAuthorization } from '../oidc/authorize';
import { getRuntime } from '../runtime-global';
import { portalSession } from './session';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(status: number, title: string, body: string): Response {
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1>${body}</main></body></html>`,
    { status, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', pragma: 'no-cache', 'referrer-policy': 'no-referrer' } },
  );
}

/**
 * GET /authorize/continue?request=…: the portal half of the authorization
 * endpoint (lib/oidc/authorize.ts). Here the browser's session is known;
 * the decision and the code are made in lib/oidc.
 */
export async function handleAuthorizeContinue(req: Request): Promise<Response> {
  const [rt, s] = await Promise.all([getRuntime(), portalSession()]);
  const requestId = new URL(req.url).searchParams.get('request');
  const browser = s.status === 'active' ? { session: s.ctx.session, user: s.ctx.user } : undefined;
  const outcome = await continueAuthorization(rt.authzDeps, requestId, browser, { clientIp: req.headers.get('x-kubegate-client-ip') });
  const noStore = { 'cache-control': 'no-store', pragma: 'no-cache', 'referrer-policy': 'no-referrer' };
  switch (outcome.kind) {
    case 'redirect':
    case 'login':
      return new Response(null, { status: 303, headers: { location: outcome.location, ...noStore } });
    case 'show_code':
      // kubelogin's authcode-keyboard mode: the person pastes this into the terminal that asked.
      return page(
        200,
        'Copy this code into your terminal',
        `<p>Paste it where kubectl (kubelogin) asks for the authorization code, within a minute. It gives a credential for cluster <strong>${esc(outcome.cluster)}</strong>.</p><p><code id="authorization-code">${esc(outcome.code)}</code></p>`,
      );
    case 'error':
      return page(outcome.status, 'This sign-in request cannot be completed', `<p>${esc(outcome.message)}</p>`);
  }
}
