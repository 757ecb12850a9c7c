import 'server-only';
import { isSameOrigin } from '../auth/csrf';
import { handlePasskeyAction, isPasskeyAction, json, refusal } from '../mfa/passkey-endpoint';
import { LOGIN_FLOW_COOKIE, passwordlessEnabled, passwordlessOptions } from '../mfa/passkey-login';
import { getRuntime } from '../runtime-global';
import { upstreamsOf } from '../upstream/registry';
import { passkeyDeps } from './passkey-deps';
import { currentSignedIn } from './session';

export { passkeyDeps };

/**
 * POST /api/passkeys/login-options: the passwordless sign-in's challenge, for
 * nobody in particular yet; its flow id goes to this browser in a host-only
 * HttpOnly cookie, five minutes.
 */
async function loginOptions(req: Request): Promise<Response> {
  const rt = await getRuntime();
  const deps = passkeyDeps(rt);
  if (!passwordlessEnabled(rt.config, upstreamsOf(rt.config))) return new Response('Not found\n', { status: 404, headers: { 'cache-control': 'no-store' } });
  if (!isSameOrigin(req.headers, deps.rp.origin)) return refusal('not_from_portal');
  const { flow, options } = await passwordlessOptions(deps);
  return json(200, options, { 'set-cookie': `${LOGIN_FLOW_COOKIE}=${flow}; Path=/; Max-Age=300; HttpOnly; Secure; SameSite=Strict` });
}

/** POST /api/passkeys/<action>: for the signed-in person at any stage (the ceremonies check what each stage may do). */
export async function servePasskeyRequest(req: Request, action: string): Promise<Response> {
  if (action === 'login-options') return loginOptions(req);
  if (!isPasskeyAction(action)) return new Response('Not found\n', { status: 404, headers: { 'cache-control': 'no-store' } });
  const ctx = await currentSignedIn();
  if (!ctx) return refusal('session_ended');
  return handlePasskeyAction(req, action, {
    deps: passkeyDeps(ctx.rt),
    authSecret: ctx.rt.authSecret,
    session: ctx.session,
    user: ctx.user,
    clientIp: req.headers.get('x-kubegate-client-ip'),
  });
}
