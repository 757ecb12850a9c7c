import 'server-only';
import { relyingPartyOf, type PasskeyDeps } from '../mfa/webauthn';
import type { Runtime } from '../runtime';
import { mfaDeps } from './mfa';

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
