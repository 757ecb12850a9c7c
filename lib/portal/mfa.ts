import 'server-only';
import { SignInThrottle } from '../auth/rate-limit';
import { storeLedger } from '../auth/throttle-ledger';
import { mfaPolicyOf } from '../mfa/config';
import type { MfaDeps } from '../mfa/service';
import type { Runtime } from '../runtime';

const depsOf = new WeakMap<Runtime, MfaDeps>();

/** What the second-factor pages need, once per runtime (the attempt throttle shares its counts through the store, like sign-in's). */
export function mfaDeps(rt: Runtime): MfaDeps {
  let deps = depsOf.get(rt);
  if (!deps) {
    deps = {
      store: rt.store,
      now: rt.now,
      log: rt.log,
      kek: rt.kek,
      throttle: new SignInThrottle(rt.now, {}, storeLedger(rt.store, 'mfa')),
      policy: mfaPolicyOf(rt.config),
      totpIssuer: rt.config.mfa.totp_issuer ?? rt.config.branding.title,
    };
    depsOf.set(rt, deps);
  }
  return deps;
}
