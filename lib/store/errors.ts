import { AppError } from '../util/errors';

/**
 * The database cannot serve the request right now: locked by another
 * process past the bounded wait, disk full, read-only, unreachable. Nothing
 * was changed. Callers answer 503 with Retry-After (the token endpoint:
 * `temporarily_unavailable`); the condition clears by itself.
 */
export class StoreUnavailableError extends AppError {
  constructor(
    readonly reason: 'busy' | 'full' | 'readonly' | 'io' | 'closed' | 'timeout',
    message: string,
    options?: { cause?: unknown },
  ) {
    super('store_unavailable', message, options);
  }
}
