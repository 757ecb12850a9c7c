import 'server-only';
import { SignInThrottle } from '../auth/rate-limit';
import { mfaPolicyOf } from '../mfa/config';
import type { MfaDeps } from '../mfa/service';
import type { Runtime } from '../runtime';

const depsOf = new WeakMap<Runtime, MfaDeps>();

/** What the second-factor pages need, once per runtime (the attempt throttle is per process, like sign-in's). */
export function mfaDeps(rt: Runtime): MfaDeps {
  let deps = depsOf.get(rt);
  if (!deps) {
    deps = {
      store: rt.store,
      now: rt.now,
      log: rt.log,
      kek: rt.kek,
      throttle: new SignInThrottle(rt.now),
      policy: mfaPolicyOf(rt.config),
      totpIssuer: rt.config.mfa.totp_issuer ?? rt.config.branding.title,
    };
    depsOf.set(rt, deps);
  }
  return deps;
}
