import type { Store } from '../store/types';
import type { Logger } from '../util/log';
import { DenialAudit } from './denial-audit';
import { TokenThrottle } from './token-throttle';

/** `server.token_rate_limit` as the config gives it. */
export interface TokenRateLimitConfig {
  per_credential: { burst: number; per_minute: number };
  per_address_failures: { burst: number; per_minute: number };
}

export interface TokenEndpointGuards {
  throttle: TokenThrottle;
  denials: DenialAudit;
  /** Stops the background flush and writes what is pending (into the log, if the store refuses it). */
  stop(): Promise<void>;
}

/**
 * The token endpoint's in-memory state: its rate limits and the coalesced
 * denial audit, flushed every `flushIntervalMs` (default a minute: at most
 * one row per credential per minute however hard it is hammered) in the
 * background, and once more at shutdown.
 */
export function createTokenEndpointGuards(
  limits: TokenRateLimitConfig,
  deps: { store: Pick<Store, 'appendAudit'>; now: () => number; log: Logger; flushIntervalMs?: number },
): TokenEndpointGuards {
  const throttle = new TokenThrottle({
    perCredential: { burst: limits.per_credential.burst, perMinute: limits.per_credential.per_minute },
    perAddressFailures: { burst: limits.per_address_failures.burst, perMinute: limits.per_address_failures.per_minute },
  });
  const denials = new DenialAudit();
  const flush = () => denials.flush(deps.store, deps.now(), deps.log);
  const timer = setInterval(() => {
    if (denials.size > 0) flush().catch((err: unknown) => deps.log.error('denial audit flush failed', { error: String(err) }));
  }, deps.flushIntervalMs ?? 60_000);
  timer.unref();
  return {
    throttle,
    denials,
    async stop() {
      clearInterval(timer);
      await flush();
      // Still pending: the store refused them (disk full, database down) and there is no next
      // flush. The rows go to the log, so the trail has them and the loss is not silent.
      if (denials.size > 0) {
        const rows = denials.drain(deps.now());
        deps.log.error('token denials not audited: the store refused them at shutdown; the rows are in this log line instead', { count: rows.length, rows });
      }
    },
  };
}
