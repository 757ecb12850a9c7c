import { AppError } from '../util/errors';

/**
 * The database cannot serve the request right now: locked by another
 * process past the bounded wait, disk full, read-only, server unreachable. Nothing
 * was changed. Callers answer 503 with Retry-After (the token endpoint:
 * `temporarily_unavailable`); the condition clears by itself.
 */
export class StoreUnavailableError extends AppError {
  constructor(
    readonly reason: 'busy' | 'full' | 'readonly' | 'io' | 'closed' | 'timeout' | 'unreachable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super('store_unavailable', message, options);
  }
}

type Reason = StoreUnavailableError['reason'];

/** SQLite result codes (primary or extended, as better-sqlite3 names them) that mean "not now", by reason. */
function reasonOf(code: string): Reason | undefined {
  if (/^SQLITE_(BUSY|LOCKED|PROTOCOL)(_|$)/.test(code)) return 'busy';
  if (code === 'SQLITE_FULL') return 'full';
  if (/^SQLITE_READONLY(_|$)/.test(code)) return 'readonly';
  if (/^SQLITE_(IOERR|CANTOPEN)(_|$)/.test(code)) return 'io';
  if (code === 'KUBEGATE_TIMEOUT') return 'timeout';
  return undefined;
}

const WHAT: Record<Reason, string> = {
  busy: 'the database is locked by another process',
  full: 'the disk holding the database is full',
  readonly: 'the database cannot be written (read-only)',
  io: 'the database file cannot be read or written',
  closed: 'the store is closed',
  timeout: 'the database did not answer in time',
  unreachable: 'the database server cannot be reached',
};

/**
 * A storage failure as the store's callers see it: SQLite's "not now"
 * conditions become StoreUnavailableError (with the SQLite error as cause);
 * anything else (a constraint violated, a bug) is returned unchanged.
 */
export function storeErrorFrom(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? reasonOf(code) : undefined;
  if (!reason) return err;
  return new StoreUnavailableError(reason, `${WHAT[reason]} (${code as string})`, { cause: err });
}

export function storeUnavailable(reason: Reason, detail?: string, options?: { cause?: unknown }): StoreUnavailableError {
  return new StoreUnavailableError(reason, detail ? `${WHAT[reason]}: ${detail}` : WHAT[reason], options);
}
