import { StoreUnavailableError } from '../store/errors';
import type { Store } from '../store/types';

export type Readiness =
  | { ready: true }
  | {
      ready: false;
      /** Stable codes for probes and dashboards; never an error message. */
      reason: 'signing_key_not_loaded' | 'database_not_writable' | 'database_timeout' | 'database_error';
      /** StoreUnavailableError's reason (busy, full, readonly, io, closed, timeout), when that is what failed. */
      detail?: string;
    };

export interface ReadinessDeps {
  store: Pick<Store, 'probeWrite'>;
  /** True when a signing key is loaded and can sign. */
  signingKeyLoaded: () => boolean;
  now: () => number;
  /** A write probe slower than this counts as failed (it keeps running; no second one starts meanwhile). */
  timeoutMs: number;
  /** A result is reused this long, so a flood of /readyz costs at most one write per period. */
  cacheMs: number;
  /** Resolves after `ms` (injected so tests need no real timers). */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * Readiness (`/readyz`): ready while a signing key is loaded and the
 * database accepts a write now, proved by `store.probeWrite` through the
 * same write path a refresh uses, within `timeoutMs`. At most one probe runs
 * at a time; results are cached for `cacheMs`.
 */
export function createReadinessCheck(deps: ReadinessDeps): () => Promise<Readiness> {
  const sleep = deps.sleep ?? realSleep;
  let inflight: Promise<Readiness> | undefined;
  let cached: { at: number; result: Readiness } | undefined;

  const probe = async (): Promise<Readiness> => {
    try {
      await deps.store.probeWrite(deps.now());
      return { ready: true };
    } catch (err) {
      if (err instanceof StoreUnavailableError) return { ready: false, reason: 'database_not_writable', detail: err.reason };
      return { ready: false, reason: 'database_error' };
    }
  };

  return async () => {
    const now = deps.now();
    if (cached && now - cached.at >= 0 && now - cached.at < deps.cacheMs) return cached.result;
    if (!deps.signingKeyLoaded()) {
      const result: Readiness = { ready: false, reason: 'signing_key_not_loaded' };
      cached = { at: now, result };
      return result;
    }
    inflight ??= probe().finally(() => {
      inflight = undefined;
    });
    const timedOut: Readiness = { ready: false, reason: 'database_timeout' };
    const result = await Promise.race([inflight, sleep(deps.timeoutMs).then(() => timedOut)]);
    cached = { at: deps.now(), result };
    return result;
  };
}
