import { randomBytes } from 'node:crypto';

/**
 * Cheap unique ids for things that are not secrets (request ids, audit
 * event ids): a random per-process prefix and a counter. Unique across
 * replicas and restarts without a CSPRNG call per request, which showed up
 * in the token endpoint's profile.
 */
const PROCESS_PREFIX = randomBytes(6).toString('hex');
let counter = 0;

export function processUniqueId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return PROCESS_PREFIX + counter.toString(36).padStart(6, '0');
}

/** Sortable by time as text: zero-padded base-36 milliseconds, then a process-unique suffix. */
export function timeOrderedId(now: number): string {
  return `${now.toString(36).padStart(9, '0')}-${processUniqueId()}`;
}
