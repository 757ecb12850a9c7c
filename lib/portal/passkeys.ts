import 'server-only';
import { handlePasskeyAction, isPasskeyAction, refusal } from '../mfa/passkey-endpoint';
import { relyingPartyOf, type PasskeyDeps } from '../mfa/webauthn';
import type { Runtime } from '../runtime';
import { mfaDeps } from './mfa';
import { currentSignedIn } from './session';

const depsOf = new WeakMap<Runtime, PasskeyDeps>();

/** The second-factor deps (the same attempt throttle as codes) plus the relying party from issuer.url. */
export function passkeyDeps(rt: Runtime): PasskeyDeps {
  let deps = depsOf.get(rt);
  if (!deps) {
    deps = { ...mfaDeps(rt), rp: relyingPartyOf(rt.config) };
    depsOf.set(rt, deps);
  }
  return deps;
}

/** POST /api/passkeys/<action>: for the signed-in person at any stage (the ceremonies check what each stage may do). */
export async function servePasskeyRequest(req: Request, action: string): Promise<Response> {
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
